//! The registry end to end: spec files in, processes, directories, logs and state out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::procstats;
use super::record::client_status;
use super::spec::{DEFAULT_KILL_TIMEOUT, MAX_KILL_TIMEOUT, read_spec};
use super::{AllocSpec, ClientStatus, LogConfig, Registry, TaskRecord, TaskStatus};
use crate::store::StateStore;
use crate::util::testing::wait_until as wait_for;

const ID: &str = "5fc98185-17ff-26bc-a802-0c74fa471c99";

struct Setup {
    tmp: tempfile::TempDir,
    state: Arc<StateStore>,
}

impl Setup {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("specs")).unwrap();
        let state = Arc::new(StateStore::open(&tmp.path().join("client")).unwrap());
        Self { tmp, state }
    }

    fn spec(&self, name: &str, spec: serde_json::Value) {
        let path = self.tmp.path().join("specs").join(format!("{name}.json"));
        std::fs::write(path, serde_json::to_vec(&spec).unwrap()).unwrap();
    }

    fn unspec(&self, name: &str) {
        std::fs::remove_file(self.tmp.path().join("specs").join(format!("{name}.json"))).unwrap();
    }

    fn open(&self) -> Registry {
        let root = self.tmp.path().join("alloc");
        let specs = self.tmp.path().join("specs");
        Registry::open(&root, &specs, self.state.clone(), Duration::from_millis(50)).unwrap()
    }

    fn logs(&self, id: &str) -> PathBuf {
        self.tmp.path().join("alloc").join(id).join("alloc/logs")
    }
}

fn sh(name: &str, script: &str) -> serde_json::Value {
    serde_json::json!({"Name": name, "Command": "/bin/sh", "Args": ["-c", script]})
}

fn alloc(tasks: &[serde_json::Value]) -> serde_json::Value {
    serde_json::json!({"ID": ID, "JobID": "redis", "TaskGroup": "cache", "Tasks": tasks})
}

fn status(registry: &Registry) -> ClientStatus {
    registry.get(ID).unwrap().client_status
}

#[test]
fn client_status_follows_nomad() {
    let task = |state: TaskStatus, failed| TaskRecord {
        state,
        failed,
        ..TaskRecord::pending("t")
    };
    let (pending, running, dead) = (TaskStatus::Pending, TaskStatus::Running, TaskStatus::Dead);
    let cases = [
        (vec![task(pending, false)], ClientStatus::Pending),
        (
            vec![task(running, false), task(pending, false)],
            ClientStatus::Running,
        ),
        (
            vec![task(running, false), task(dead, false)],
            ClientStatus::Running,
        ),
        (
            vec![task(running, false), task(dead, true)],
            ClientStatus::Failed,
        ),
        (
            vec![task(dead, false), task(dead, false)],
            ClientStatus::Complete,
        ),
        (
            vec![task(dead, false), task(pending, false)],
            ClientStatus::Pending,
        ),
    ];
    for (tasks, want) in cases {
        assert_eq!(client_status(&tasks, false), want, "{tasks:?}");
    }
    assert_eq!(client_status(&[], false), ClientStatus::Pending);
    assert_eq!(client_status(&[], true), ClientStatus::Complete);
}

#[test]
fn bad_specs_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.json");
    let cases = [
        ("{not json", "invalid JSON"),
        (r#"{"ID":"short"}"#, "UUID"),
        (
            &alloc(&[serde_json::json!({"Name": "web"})]).to_string(),
            "no Command",
        ),
        (
            &alloc(&[sh("../x", "true")]).to_string(),
            "invalid task name",
        ),
        (
            &alloc(&[sh("web", "true"), sh("web", "true")]).to_string(),
            "duplicate",
        ),
        (
            &alloc(&[
                serde_json::json!({"Name": "web", "Command": "x", "LogConfig": {"MaxFiles": 0}}),
            ])
            .to_string(),
            "MaxFiles",
        ),
        (
            &alloc(&[serde_json::json!({"Name": "web", "Command": "x", "KillTimeout": "soon"})])
                .to_string(),
            "invalid duration",
        ),
        (
            &alloc(&[serde_json::json!({"Name": "web", "Command": "x", "KillTimeout": -1})])
                .to_string(),
            "KillTimeout",
        ),
    ];
    for (text, reason) in cases {
        std::fs::write(&path, text).unwrap();
        let err = format!("{:#}", read_spec(&path).unwrap_err());
        assert!(err.contains(reason), "{text}: {err}");
    }
}

#[test]
fn spec_fields_have_nomads_defaults_and_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.json");
    let tasks = [
        serde_json::json!({"Name": "a", "Command": "x", "LogConfig": null}),
        serde_json::json!({"Name": "b", "Command": "x", "KillTimeout": 2_000_000_000u64,
                           "LogConfig": {"Disabled": true}}),
        serde_json::json!({"Name": "c", "Command": "x", "KillTimeout": "1m"}),
    ];
    std::fs::write(&path, alloc(&tasks).to_string()).unwrap();
    let spec = read_spec(&path).unwrap();
    assert_eq!(spec.namespace, "default");
    assert_eq!(spec.tasks[0].log_config, LogConfig::default());
    assert_eq!(spec.tasks[0].kill_timeout(), DEFAULT_KILL_TIMEOUT);
    assert!(spec.tasks[1].log_config.disabled);
    assert_eq!(spec.tasks[1].log_config.max_files, 10);
    assert_eq!(spec.tasks[1].kill_timeout(), Duration::from_secs(2));
    assert_eq!(spec.tasks[2].kill_timeout(), MAX_KILL_TIMEOUT, "capped");
    let round_trip: AllocSpec =
        serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
    assert_eq!(round_trip, spec);
}

#[test]
fn tasks_run_stop_and_are_collected() {
    let setup = Setup::new();
    setup.spec("redis", alloc(&[sh("redis", "echo up; exec sleep 1000")]));
    let registry = setup.open();
    wait_for("running", || status(&registry) == ClientStatus::Running);
    let task = &registry.get(ID).unwrap().tasks[0];
    assert_eq!(task.state, TaskStatus::Running);
    assert!(task.started_at.is_some() && task.finished_at.is_none());
    let dir = setup.tmp.path().join("alloc").join(ID);
    assert!(dir.join("redis/secrets").is_dir());
    wait_for("output", || {
        std::fs::read(setup.logs(ID).join("redis.stdout.0")).is_ok_and(|d| d == b"up\n")
    });
    wait_for("a usage sample", || !registry.usage(ID).is_empty());
    assert!(
        registry.collect(ID).is_err(),
        "a live allocation is not collectable"
    );

    setup.unspec("redis");
    registry.reconcile();
    wait_for("complete", || status(&registry) == ClientStatus::Complete);
    let task = &registry.get(ID).unwrap().tasks[0];
    assert_eq!((task.state, task.failed), (TaskStatus::Dead, false));
    assert_eq!(task.signal, Some(libc::SIGTERM));
    assert!(
        registry.usage(ID).is_empty(),
        "only running tasks are sampled"
    );

    drop(registry);
    let registry = setup.open();
    assert_eq!(
        status(&registry),
        ClientStatus::Complete,
        "state survives a restart"
    );
    registry.collect(ID).unwrap();
    assert!(registry.get(ID).is_none());
    assert!(!dir.exists());
    assert!(setup.state.allocations().unwrap().is_empty());
}

#[test]
fn a_broken_spec_file_holds_its_allocation_as_it_is() {
    let setup = Setup::new();
    setup.spec("web", alloc(&[sh("web", "exec sleep 1000")]));
    let registry = setup.open();
    wait_for("running", || status(&registry) == ClientStatus::Running);
    let path = setup.tmp.path().join("specs/web.json");
    let placed = registry.allocs().placed[ID].clone();
    std::fs::write(&path, b"{\"ID\": \"5fc9").unwrap();
    registry.reconcile();
    // A reconciliation decides synchronously: a stop would be marked by now.
    let kept = registry.allocs().placed[ID].clone();
    assert!(Arc::ptr_eq(&placed, &kept), "half a file replaces nothing");
    assert!(!kept.live().stopping, "half a file stops nothing");
    assert!(!kept.tasks[0].is_done(), "half a file stops nothing");
    assert_eq!(status(&registry), ClientStatus::Running);
    std::fs::remove_file(&path).unwrap();
    registry.reconcile();
    wait_for("complete", || status(&registry) == ClientStatus::Complete);
}

#[test]
fn a_collected_allocation_runs_once_while_its_spec_stays() {
    let setup = Setup::new();
    setup.spec("job", alloc(&[sh("job", "echo ran")]));
    let registry = setup.open();
    wait_for("complete", || status(&registry) == ClientStatus::Complete);
    registry.collect(ID).unwrap();
    registry.reconcile();
    assert!(registry.get(ID).is_none(), "not placed again");
    drop(registry);
    let registry = setup.open();
    assert!(
        registry.get(ID).is_none(),
        "not placed again after a restart"
    );

    // Once its file is gone the id is forgotten: adding it again is a new placement.
    setup.unspec("job");
    registry.reconcile();
    assert!(setup.state.allocations().unwrap().is_empty());
    setup.spec("job", alloc(&[sh("job", "echo ran")]));
    registry.reconcile();
    wait_for("complete", || {
        registry
            .get(ID)
            .is_some_and(|r| r.client_status == ClientStatus::Complete)
    });
    // A changed spec replaces a collected allocation too.
    registry.collect(ID).unwrap();
    setup.spec("job", alloc(&[sh("job", "echo changed")]));
    registry.reconcile();
    assert!(registry.get(ID).is_some());
}

#[test]
fn exit_codes_decide_complete_or_failed() {
    let setup = Setup::new();
    setup.spec("ok", alloc(&[sh("a", "exit 0"), sh("b", "exit 0")]));
    let registry = setup.open();
    wait_for("complete", || status(&registry) == ClientStatus::Complete);
    assert_eq!(registry.get(ID).unwrap().tasks[1].exit_code, Some(0));

    // A changed spec replaces the allocation.
    setup.spec(
        "ok",
        alloc(&[sh("a", "exec sleep 1000"), sh("b", "sleep 0.2; exit 3")]),
    );
    registry.reconcile();
    wait_for("failed", || status(&registry) == ClientStatus::Failed);
    wait_for("the sibling stopped", || {
        registry.get(ID).unwrap().tasks[0].state == TaskStatus::Dead
    });
    let record = registry.get(ID).unwrap();
    assert_eq!(
        (record.tasks[1].failed, record.tasks[1].exit_code),
        (true, Some(3))
    );
    assert!(
        !record.tasks[0].failed,
        "a task stopped by its sibling's failure is not failed"
    );
}

#[test]
fn a_command_that_cannot_start_fails_the_allocation() {
    let setup = Setup::new();
    setup.spec(
        "x",
        alloc(&[serde_json::json!({"Name": "x", "Command": "/nonexistent/cmd"})]),
    );
    let registry = setup.open();
    wait_for("failed", || status(&registry) == ClientStatus::Failed);
    assert!(registry.get(ID).unwrap().tasks[0].failed);
}

#[test]
fn tasks_get_nomads_environment_and_their_directory() {
    let setup = Setup::new();
    let mut task = sh(
        "web",
        "pwd; echo $NOMAD_ALLOC_ID $NOMAD_TASK_NAME $NOMAD_GROUP_NAME $NOMAD_JOB_NAME \
         $NOMAD_NAMESPACE $NOMAD_ALLOC_NAME $NOMAD_SHORT_ALLOC_ID $EXTRA; \
         echo $NOMAD_ALLOC_DIR $NOMAD_TASK_DIR $NOMAD_SECRETS_DIR; echo oops >&2",
    );
    task["Env"] = serde_json::json!({"EXTRA": "x1"});
    setup.spec("web", alloc(&[task]));
    let registry = setup.open();
    wait_for("complete", || status(&registry) == ClientStatus::Complete);
    let root = std::fs::canonicalize(setup.tmp.path().join("alloc")).unwrap();
    let dir = root.join(ID);
    let out = std::fs::read_to_string(setup.logs(ID).join("web.stdout.0")).unwrap();
    let d = |p: &str| dir.join(p).display().to_string();
    assert_eq!(
        out,
        format!(
            "{}\n{ID} web cache redis default redis.cache[0] 5fc98185 x1\n{} {} {}\n",
            d("web"),
            d("alloc"),
            d("web/local"),
            d("web/secrets")
        )
    );
    assert_eq!(
        std::fs::read(setup.logs(ID).join("web.stderr.0")).unwrap(),
        b"oops\n"
    );
}

#[test]
fn disabled_logs_write_no_files() {
    let setup = Setup::new();
    let mut task = sh("quiet", "echo hidden; echo hidden >&2");
    task["LogConfig"] = serde_json::json!({"Disabled": true});
    setup.spec("quiet", alloc(&[task]));
    let registry = setup.open();
    wait_for("complete", || status(&registry) == ClientStatus::Complete);
    assert_eq!(std::fs::read_dir(setup.logs(ID)).unwrap().count(), 0);
}

#[test]
fn a_restarted_agent_runs_running_tasks_again_with_fresh_log_files() {
    let setup = Setup::new();
    setup.spec(
        "redis",
        alloc(&[
            sh("redis", "echo run; exec sleep 1000"),
            sh("once", "echo done"),
        ]),
    );
    let registry = setup.open();
    let stdout = |n: u32| std::fs::read(setup.logs(ID).join(format!("redis.stdout.{n}")));
    wait_for("output", || stdout(0).is_ok_and(|d| d == b"run\n"));
    wait_for("the short task to finish", || {
        registry.get(ID).unwrap().tasks[1].state == TaskStatus::Dead
    });
    let first_pid = registry.get(ID).unwrap().tasks[0].pid.unwrap();
    registry.shutdown(true);
    assert!(procstats::read_stat(first_pid).is_none_or(|p| p.zombie));
    assert_eq!(
        status(&registry),
        ClientStatus::Running,
        "shutdown keeps the state"
    );
    drop(registry);

    let registry = setup.open();
    wait_for("the new run's output", || {
        stdout(1).is_ok_and(|d| d == b"run\n")
    });
    assert_eq!(stdout(0).unwrap(), b"run\n", "the old file is untouched");
    let record = registry.get(ID).unwrap();
    assert_eq!(record.client_status, ClientStatus::Running);
    assert_ne!(record.tasks[0].pid, Some(first_pid));
    assert_eq!(
        record.tasks[1].state,
        TaskStatus::Dead,
        "a finished task stays finished"
    );
    assert!(!setup.logs(ID).join("once.stdout.1").exists());
    registry.shutdown(true);
}
