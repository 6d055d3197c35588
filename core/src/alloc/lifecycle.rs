//! Acting on an allocation's tasks: `restart`, `signal`, and the `checks` it reports.
//!
//! Nomad's HTTP handlers decode the body (`AllocRestartRequest`'s `TaskName` and `AllTasks`,
//! `AllocSignalRequest`'s `Task` and `Signal`), the client checks `alloc-lifecycle` on the
//! allocation's namespace, then its alloc runner refuses with the texts reproduced here.
//! Nomad answers these refusals 500; nothing failed, the caller asked for something that
//! cannot be, so caravan answers 400 (only a host fault is 500).

use serde_json::{Map, Value};

use crate::acl::access::Access;
use crate::host::{Allocation, Host, LifecycleError, TaskStatus};
use crate::http::{ApiError, ApiResult};
use crate::wire::json::{field, go_type};

/// Nomad's `ErrTaskNotRunning`.
pub const NOT_RUNNING: &str = "Task not running";
/// `allocRunner.restartTasks` on an allocation that should not run.
pub const RESTART_TERMINAL: &str = "restart of an alloc that should not run";
/// `Client.RestartAllocation` given both a task and `AllTasks`.
pub const NAME_AND_ALL: &str = "task name cannot be set when restarting all tasks";

/// The signal names the host delivers (consul-template's `SignalLookup` on Linux, which
/// Nomad's drivers use).
pub const SIGNALS: &[&str] = &[
    "SIGABRT",
    "SIGALRM",
    "SIGBUS",
    "SIGCHLD",
    "SIGCONT",
    "SIGFPE",
    "SIGHUP",
    "SIGILL",
    "SIGINT",
    "SIGIO",
    "SIGIOT",
    "SIGKILL",
    "SIGPIPE",
    "SIGPROF",
    "SIGPWR",
    "SIGQUIT",
    "SIGSEGV",
    "SIGSTKFLT",
    "SIGSTOP",
    "SIGSYS",
    "SIGTERM",
    "SIGTRAP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGUSR1",
    "SIGUSR2",
    "SIGVTALRM",
    "SIGWINCH",
    "SIGXCPU",
    "SIGXFSZ",
];

/// `POST|PUT /v1/client/allocation/:id/restart`.
pub fn restart(
    host: &impl Host,
    access: &Access,
    alloc_id: &str,
    method: &str,
    body: &[u8],
) -> ApiResult<()> {
    post_or_put(method)?;
    let object = decode(body, "AllocRestartRequest")?;
    let task = string_field(&object, "TaskName", "AllocRestartRequest")?;
    let all_tasks = match field(&object, "AllTasks") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(all)) => *all,
        Some(other) => return Err(type_error("AllocRestartRequest", "AllTasks", other, "bool")),
    };
    let allocation = access.allocation(host, alloc_id)?;
    if all_tasks && !task.is_empty() {
        return Err(ApiError::bad_request(NAME_AND_ALL));
    }
    let task = Some(task).filter(|t| !t.is_empty());
    if let Some(name) = &task {
        let state = task_state(&allocation, name).ok_or_else(|| {
            ApiError::bad_request(format!("Could not find task runner for task: {name}"))
        })?;
        if state != TaskStatus::Running || allocation.client_status.is_terminal() {
            return Err(ApiError::bad_request(NOT_RUNNING));
        }
    } else if allocation.client_status.is_terminal() {
        return Err(ApiError::bad_request(RESTART_TERMINAL));
    }
    host.restart(&allocation.id, task.as_deref())
        .map_err(|e| lifecycle_error(e, &allocation, task.as_deref(), Act::Restart))
}

/// `POST|PUT /v1/client/allocation/:id/signal`.
pub fn signal(
    host: &impl Host,
    access: &Access,
    alloc_id: &str,
    method: &str,
    body: &[u8],
) -> ApiResult<()> {
    post_or_put(method)?;
    let object = decode(body, "AllocSignalRequest")?;
    let task = string_field(&object, "Task", "AllocSignalRequest")?;
    let signal = string_field(&object, "Signal", "AllocSignalRequest")?.to_ascii_uppercase();
    let allocation = access.allocation(host, alloc_id)?;
    if !SIGNALS.contains(&signal.as_str()) {
        // Nomad's raw_exec sends SIGINT instead of an unknown signal; caravan sends nothing.
        return Err(ApiError::bad_request(format!(
            "invalid signal {}",
            crate::wire::params::go_quote(&signal)
        )));
    }
    let task = Some(task).filter(|t| !t.is_empty());
    let terminal = allocation.client_status.is_terminal();
    if let Some(name) = &task {
        let state =
            task_state(&allocation, name).ok_or_else(|| ApiError::bad_request("Task not found"))?;
        if state != TaskStatus::Running || terminal {
            return Err(ApiError::bad_request(NOT_RUNNING));
        }
    } else if let Some(err) = not_running_all(&allocation, terminal) {
        return Err(err);
    }
    host.signal(&allocation.id, task.as_deref(), &signal)
        .map_err(|e| lifecycle_error(e, &allocation, task.as_deref(), Act::Signal))
}

/// `GET /v1/client/allocation/:id/checks`: check id → result. caravan runs no health
/// checks yet, so the map is empty.
pub fn checks(host: &impl Host, access: &Access, alloc_id: &str) -> ApiResult<Value> {
    access.allocation(host, alloc_id)?;
    Ok(Value::Object(Map::new()))
}

/// Nomad's `GenericResponse`, what both actions answer (Nomad's Go `api` package needs a
/// JSON body to decode).
pub fn generic_response() -> Value {
    serde_json::json!({ "Index": 0 })
}

#[derive(Clone, Copy)]
enum Act {
    Restart,
    Signal,
}

fn post_or_put(method: &str) -> ApiResult<()> {
    match method {
        "POST" | "PUT" => Ok(()),
        _ => Err(ApiError::invalid_method()),
    }
}

/// The body as a JSON object; an empty body is an empty request, as Nomad's decoder allows.
fn decode(body: &[u8], go_struct: &str) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(if e.is_eof() {
            "unexpected EOF".to_string()
        } else {
            format!("invalid JSON: {e}")
        })
    })?;
    match value {
        Value::Object(object) => Ok(object),
        Value::Null => Ok(Map::new()),
        other => Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go value of type structs.{go_struct}",
            go_type(&other)
        ))),
    }
}

fn string_field(object: &Map<String, Value>, name: &str, go_struct: &str) -> ApiResult<String> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(type_error(go_struct, name, other, "string")),
    }
}

fn type_error(go_struct: &str, name: &str, value: &Value, go_type_name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "json: cannot unmarshal {} into Go struct field {go_struct}.{name} of type {go_type_name}",
        go_type(value)
    ))
}

fn task_state(allocation: &Allocation, name: &str) -> Option<TaskStatus> {
    allocation
        .tasks
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.state)
}

/// Nomad signals every task and collects one error per task that is not running.
fn not_running_all(allocation: &Allocation, terminal: bool) -> Option<ApiError> {
    let errors: Vec<String> = allocation
        .tasks
        .iter()
        .filter(|t| terminal || t.state != TaskStatus::Running)
        .map(|t| format!("Failed to signal task: {}, err: {NOT_RUNNING}", t.name))
        .collect();
    (!errors.is_empty()).then(|| ApiError::bad_request(multierror(&errors)))
}

/// go-multierror's default format.
fn multierror(errors: &[String]) -> String {
    let points: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
    if errors.len() == 1 {
        format!("1 error occurred:\n\t{}\n\n", points[0])
    } else {
        format!(
            "{} errors occurred:\n\t{}\n\n",
            errors.len(),
            points.join("\n\t")
        )
    }
}

/// What the host said, in the texts the core's own checks use (it lost a race with them).
fn lifecycle_error(
    err: LifecycleError,
    allocation: &Allocation,
    task: Option<&str>,
    act: Act,
) -> ApiError {
    match (err, task, act) {
        (LifecycleError::NotFound, _, _) => ApiError::not_found(format!(
            "Unknown allocation {}",
            crate::wire::params::go_quote(&allocation.id)
        )),
        (LifecycleError::UnknownTask, Some(name), Act::Restart) => {
            ApiError::bad_request(format!("Could not find task runner for task: {name}"))
        }
        (LifecycleError::UnknownTask, _, _) => ApiError::bad_request("Task not found"),
        (LifecycleError::Terminal, None, Act::Restart) => ApiError::bad_request(RESTART_TERMINAL),
        (LifecycleError::NotRunning | LifecycleError::Terminal, _, _) => {
            ApiError::bad_request(NOT_RUNNING)
        }
        (LifecycleError::UnknownSignal, _, _) => ApiError::bad_request("invalid signal"),
        (LifecycleError::Io(message), _, _) => ApiError::internal(message),
    }
}

#[cfg(test)]
mod tests;
