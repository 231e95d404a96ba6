//! What the admin page's live sockets (events, world view, screens) share: noticing that the page
//! went away, and telling it the relay is stopping.

/// The admin page's live sockets (events, world view): the half the page writes to, which only
/// carries control frames.
pub(super) type PageStream = futures_util::stream::SplitStream<axum::extract::ws::WebSocket>;
/// The half the relay writes to.
pub(super) type PageSink =
    futures_util::stream::SplitSink<axum::extract::ws::WebSocket, axum::extract::ws::Message>;

/// Resolves when the page closes its socket or goes away.
pub(super) async fn page_gone(mut stream: PageStream) {
    use futures_util::StreamExt;
    while let Some(Ok(msg)) = stream.next().await {
        if matches!(msg, axum::extract::ws::Message::Close(_)) {
            break;
        }
    }
}

/// Tells the page the relay is stopping (it reconnects by itself when the relay is back).
pub(super) async fn say_goodbye(sink: &mut PageSink) {
    use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
    use futures_util::SinkExt;
    let close = CloseFrame {
        code: 1001,
        reason: Utf8Bytes::from_static("relay shutting down"),
    };
    let _ = sink.send(Message::Close(Some(close))).await;
}
