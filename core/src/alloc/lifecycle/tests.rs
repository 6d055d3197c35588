use super::*;
use crate::fake::{ALLOC, Fake};
use crate::host::ClientStatus;
use crate::http::Request;

fn call(fake: &Fake, action: &str, method: &str, body: &str) -> ApiResult<()> {
    let req = Request {
        method: method.into(),
        path: format!("/v1/client/allocation/{ALLOC}/{action}"),
        body: body.as_bytes().to_vec(),
        ..Default::default()
    };
    let access = Access {
        request: &req,
        requirement: None,
    };
    match action {
        "restart" => restart(fake, &access, ALLOC, method, body.as_bytes()),
        _ => signal(fake, &access, ALLOC, method, body.as_bytes()),
    }
}

fn running() -> Fake {
    let fake = Fake::default();
    *fake.task_running.borrow_mut() = true;
    fake
}

fn message(r: ApiResult<()>) -> (u16, String) {
    let e = r.unwrap_err();
    (e.status, e.message)
}

#[test]
fn restart_one_task_or_all() {
    let fake = running();
    call(&fake, "restart", "POST", r#"{"TaskName":"web"}"#).unwrap();
    call(&fake, "restart", "PUT", "").unwrap();
    call(&fake, "restart", "POST", r#"{"AllTasks":true}"#).unwrap();
    assert_eq!(
        *fake.lifecycle.borrow(),
        ["restart web", "restart *", "restart *"]
    );
}

#[test]
fn restart_refusals_use_nomads_texts() {
    let fake = running();
    assert_eq!(
        message(call(&fake, "restart", "POST", r#"{"TaskName":"db"}"#)),
        (400, "Could not find task runner for task: db".into())
    );
    assert_eq!(
        message(call(
            &fake,
            "restart",
            "POST",
            r#"{"TaskName":"web","AllTasks":true}"#
        )),
        (400, NAME_AND_ALL.into())
    );
    assert_eq!(
        message(call(&fake, "restart", "POST", r#"{"AllTasks":"yes"}"#)).1,
        "json: cannot unmarshal string into Go struct field AllocRestartRequest.AllTasks of type bool"
    );
    assert_eq!(message(call(&fake, "restart", "GET", "")).0, 405);
    *fake.status.borrow_mut() = ClientStatus::Complete;
    assert_eq!(
        message(call(&fake, "restart", "POST", "")),
        (400, RESTART_TERMINAL.into())
    );
    assert_eq!(
        message(call(&fake, "restart", "POST", r#"{"TaskName":"web"}"#)),
        (400, NOT_RUNNING.into())
    );
    assert!(fake.lifecycle.borrow().is_empty());
}

#[test]
fn signal_validates_the_signal_and_the_task() {
    let fake = running();
    call(
        &fake,
        "signal",
        "POST",
        r#"{"Signal":"sighup","Task":"web"}"#,
    )
    .unwrap();
    call(&fake, "signal", "POST", r#"{"Signal":"SIGUSR1"}"#).unwrap();
    assert_eq!(
        *fake.lifecycle.borrow(),
        ["signal web SIGHUP", "signal * SIGUSR1"]
    );
    assert_eq!(
        message(call(&fake, "signal", "POST", r#"{"Signal":"SIGNOPE"}"#)),
        (400, "invalid signal \"SIGNOPE\"".into())
    );
    assert_eq!(
        message(call(
            &fake,
            "signal",
            "POST",
            r#"{"Signal":"SIGHUP","Task":"db"}"#
        )),
        (400, "Task not found".into())
    );
    *fake.status.borrow_mut() = ClientStatus::Failed;
    assert_eq!(
        message(call(&fake, "signal", "POST", r#"{"Signal":"SIGHUP"}"#)),
        (
            400,
            "1 error occurred:\n\t* Failed to signal task: web, err: Task not running\n\n".into()
        )
    );
}

#[test]
fn host_errors_keep_the_texts() {
    let fake = running();
    *fake.lifecycle_error.borrow_mut() = Some(LifecycleError::NotRunning);
    assert_eq!(
        message(call(&fake, "restart", "POST", r#"{"TaskName":"web"}"#)),
        (400, NOT_RUNNING.into())
    );
    *fake.lifecycle_error.borrow_mut() = Some(LifecycleError::Io("boom".into()));
    assert_eq!(
        message(call(&fake, "signal", "POST", r#"{"Signal":"SIGHUP"}"#)),
        (500, "boom".into())
    );
}
