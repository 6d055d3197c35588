//! The agent as a service: the signals it answers (SIGTERM and SIGINT stop it, SIGHUP
//! reloads) and what it tells systemd (`sd_notify`: ready once the API listens, reloading
//! around a SIGHUP, stopping at a shutdown), so that a `Type=notify` unit knows when
//! `systemctl start` and `systemctl reload` are done. Without `NOTIFY_SOCKET` (not run by
//! systemd) the notifications are nothing.

use std::sync::Arc;

use anyhow::{Context, Result};
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};

use crate::http::tls::Tls;
use crate::runtime::Runtime;
use crate::runtime::triggers::{self, CoreSource};

/// Tell systemd the agent serves: call once the API listens.
pub fn ready() {
    notify(&[NotifyState::Ready]);
}

/// Send `states` to the service manager, if there is one. A failure is only logged: the
/// agent serves whether or not systemd heard.
fn notify(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!("failed to notify the service manager: {err}");
    }
}

/// Resolves on SIGINT or SIGTERM, having told systemd the agent is stopping. The handlers
/// are installed by this call, not when the future is first polled, so a signal arriving
/// just after "Serving HTTP" is printed still shuts down gracefully instead of killing the
/// agent.
pub fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate()).context("failed to handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("failed to handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        notify(&[NotifyState::Stopping]);
    })
}

/// On SIGHUP reload the core (the `-core` file, or the built-in one, which re-runs its
/// checks or returns to it after an admin swap) and, with TLS, the certificates; systemd
/// hears `RELOADING=1` before and `READY=1` once both are done, so `systemctl reload`
/// returns when the reload has happened. The handler is installed before this returns, so a
/// SIGHUP arriving later never takes the default action (terminating the agent).
pub fn reload_on_sighup(
    runtime: Arc<Runtime>,
    source: CoreSource,
    tls: Option<Arc<Tls>>,
) -> Result<()> {
    let mut hangup = signal(SignalKind::hangup()).context("failed to handle SIGHUP")?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            // systemd wants the monotonic time of the reload's start with `RELOADING=1`.
            match NotifyState::monotonic_usec_now() {
                Ok(now) => notify(&[NotifyState::Reloading, now]),
                Err(_) => notify(&[NotifyState::Reloading]),
            }
            let (runtime, source, tls) = (runtime.clone(), source.clone(), tls.clone());
            let _ = tokio::task::spawn_blocking(move || {
                triggers::reload(&runtime, &source, crate::runtime::Trigger::Signal);
                if let Some(tls) = tls {
                    tls.reload("SIGHUP");
                }
            })
            .await;
            notify(&[NotifyState::Ready]);
        }
    });
    Ok(())
}
