//! How the server runs its long-lived tasks: every task on the server's tracker under its shutdown
//! signal, and the ones a bug must not end for the rest of the session restarted after a panic.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

/// Where a part runs its long-lived tasks: the server's shutdown signal and its task tracker
/// (shutdown waits for every task started on it).
#[derive(Debug, Clone)]
pub struct Tasks {
    /// Cancelled when the server stops.
    pub shutdown: CancellationToken,
    /// Every task of the server.
    pub tracker: tokio_util::task::TaskTracker,
}

/// Runs a long-lived task, restarting it if it panics, until it returns or `shutdown`. A bug that
/// panics on some input must cost a log line and a restart, not the GAMA link or the accept loop
/// for the rest of the session.
pub async fn supervised<F, Fut>(name: &str, shutdown: CancellationToken, mut task: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        match AssertUnwindSafe(task()).catch_unwind().await {
            Ok(()) => return,
            Err(panic) => {
                tracing::error!(
                    task = name,
                    panic = panic_message(panic.as_ref()),
                    "task panicked; restarting it"
                );
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    }
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
