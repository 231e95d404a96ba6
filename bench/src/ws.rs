//! WebSocket plumbing shared by the fake GAMA, the direct server and the headsets, so the relay
//! and the `--direct` baseline are measured through exactly the same code on the bench's side.

use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Message, protocol::WebSocketConfig};

/// Largest message any bench endpoint accepts: above the relay's own limits (64 MiB from GAMA,
/// 16 MiB per headset message), so the bench is never the one refusing a big world.
pub const MAX_MESSAGE_BYTES: usize = 128 << 20;

/// Frames queued for one connection's writer. Bounded, so a slow peer pushes back on the sender
/// (whose stamps carry the scheduled time, so the wait is measured).
pub const QUEUE_FRAMES: usize = 256;

/// Accepts connections for as long as the returned task runs, each served by its own task; a
/// failed accept (out of descriptors under a big scenario) is retried shortly after.
pub fn accept_loop<F, Fut>(listener: TcpListener, serve: F) -> JoinHandle<()>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
}

/// The WebSocket settings of every bench endpoint.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
}

/// Writes queued frames until the queue closes or the peer fails; frames that are already waiting
/// go out together with one flush.
pub async fn write_loop<S>(mut sink: S, mut rx: mpsc::Receiver<Message>)
where
    S: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    while let Some(first) = rx.recv().await {
        if sink.feed(first).await.is_err() {
            return;
        }
        while let Ok(more) = rx.try_recv() {
            if sink.feed(more).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
