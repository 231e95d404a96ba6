//! An operator's change made through the admin API (or the monitor socket) and its entry in the
//! audit trail: run to their end together, whether or not the page that asked is still there.

use std::future::Future;
use std::net::SocketAddr;

use super::App;
use crate::control::audit::Via;
use crate::control::operator::OpError;
use crate::control::said::Said;

/// Runs an operator's action and writes it down in the audit trail, both in a task of the server's
/// that the handler only awaits. A client that goes away (a tablet dropping off the Wi-Fi during a
/// launch) makes the server drop its handler; the action and its audit entry still see their end.
pub(crate) async fn to_the_end<T, E>(
    app: &App,
    peer: SocketAddr,
    action: Said,
    work: impl Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<OpError> + Send + 'static,
    for<'e> Said: From<&'e E>,
{
    to_the_end_via(app, peer, Via::Admin, action, work).await
}

/// [`to_the_end`] for a change that came `via` another way (the monitor socket).
pub(crate) async fn to_the_end_via<T, E>(
    app: &App,
    peer: SocketAddr,
    via: Via,
    action: Said,
    work: impl Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<OpError> + Send + 'static,
    for<'e> Said: From<&'e E>,
{
    let app = app.clone();
    let tracker = app.tracker.clone();
    let task = tracker.spawn(async move {
        let result = work.await;
        let outcome = result.as_ref().map(drop).map_err(Said::from);
        app.audit.record(peer.ip(), via, action, outcome);
        result
    });
    task.await
        .unwrap_or_else(|e| Err(OpError::Internal(e.to_string()).into()))
}

/// Records an operator's change made through the admin API.
pub(crate) fn audited<T, E>(app: &App, peer: SocketAddr, action: Said, result: &Result<T, E>)
where
    for<'e> Said: From<&'e E>,
{
    let outcome = result.as_ref().map(drop).map_err(Said::from);
    app.audit.record(peer.ip(), Via::Admin, action, outcome);
}
