//! `allocations`: the allocations this client runs, from `crate::allocs`.

use wasmtime::component::{HasSelf, Linker};

use super::CoreState;
use crate::allocs::{self, AllocRecord};
use crate::wit::allocations;

impl allocations::Host for CoreState {
    fn get(&mut self, id: String) -> Option<allocations::Allocation> {
        self.ctx.allocations.get(&id).map(allocation)
    }

    fn list(&mut self) -> Vec<allocations::Allocation> {
        self.ctx
            .allocations
            .list()
            .into_iter()
            .map(allocation)
            .collect()
    }

    fn collect(&mut self, id: String) -> Result<(), allocations::CollectError> {
        use allocations::CollectError as E;
        self.ctx.allocations.collect(&id).map_err(|e| match e {
            allocs::CollectError::NotFound => E::NotFound,
            allocs::CollectError::NotTerminal => E::NotTerminal,
            allocs::CollectError::Failed(why) => E::Io(why),
        })
    }

    fn restart(
        &mut self,
        alloc_id: String,
        task: Option<String>,
    ) -> Result<(), allocations::LifecycleError> {
        self.ctx
            .allocations
            .restart(&alloc_id, task.as_deref())
            .map_err(lifecycle_error)
    }

    fn signal(
        &mut self,
        alloc_id: String,
        task: Option<String>,
        signal: String,
    ) -> Result<(), allocations::LifecycleError> {
        self.ctx
            .allocations
            .signal(&alloc_id, task.as_deref(), &signal)
            .map_err(lifecycle_error)
    }
}

fn lifecycle_error(e: allocs::LifecycleError) -> allocations::LifecycleError {
    use allocations::LifecycleError as E;
    match e {
        allocs::LifecycleError::NotFound => E::NotFound,
        allocs::LifecycleError::UnknownTask => E::UnknownTask,
        allocs::LifecycleError::NotRunning => E::NotRunning,
        allocs::LifecycleError::Terminal => E::Terminal,
        allocs::LifecycleError::UnknownSignal => E::UnknownSignal,
        allocs::LifecycleError::Failed(why) => E::Io(why),
    }
}

/// An allocation record in the contract's terms.
pub fn allocation(record: AllocRecord) -> allocations::Allocation {
    use allocations::{ClientStatus as C, TaskStatus as T};
    allocations::Allocation {
        id: record.spec.id,
        namespace: record.spec.namespace,
        job_id: record.spec.job_id,
        task_group: record.spec.task_group,
        client_status: match record.client_status {
            allocs::ClientStatus::Pending => C::Pending,
            allocs::ClientStatus::Running => C::Running,
            allocs::ClientStatus::Complete => C::Complete,
            allocs::ClientStatus::Failed => C::Failed,
            allocs::ClientStatus::Lost => C::Lost,
        },
        tasks: record
            .tasks
            .into_iter()
            .map(|t| allocations::TaskState {
                name: t.name,
                state: match t.state {
                    allocs::TaskStatus::Pending => T::Pending,
                    allocs::TaskStatus::Running => T::Running,
                    allocs::TaskStatus::Dead => T::Dead,
                },
                failed: t.failed,
                started_at: t.started_at.map(Into::into),
                finished_at: t.finished_at.map(Into::into),
                restarts: t.restarts,
                last_restart: t.last_restart.map(Into::into),
            })
            .collect(),
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<CoreState>) -> wasmtime::Result<()> {
    allocations::add_to_linker::<CoreState, HasSelf<CoreState>>(linker, |s| s)
}
