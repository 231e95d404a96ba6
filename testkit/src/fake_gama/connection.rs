//! The fake's tasks: the accept loop, the ticker that runs simulation cycles, and each
//! connection's task, which writes what the state queued for it and reads its commands.
//!
//! All the I/O is here; the state and the command handling it calls know nothing of sockets.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::args::{field_text, nb_step};
use super::server::{ConnGuard, Inner};
use super::state::{Conn, ExpState, Out};
use super::wire::{ConnectionSuccessful, socket_id_for, to_text};
use super::{CLOSE_TIMEOUT, FakeGamaOptions, HANDSHAKE_TIMEOUT, MAX_STEPS_PER_COMMAND};

pub(super) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let conn = inner.next_conn.fetch_add(1, Ordering::Relaxed);
                // Spawn and register under the lock, so the task's guard (which needs the lock)
                // always finds its entry.
                let mut st = inner.lock();
                let task = tokio::spawn(connection(Arc::clone(&inner), conn, stream, peer));
                st.conn_tasks.insert(conn, task);
            }
            Err(e) => {
                tracing::warn!("fake-gama: accept failed: {e}");
                // Typically EMFILE: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Advances every running experiment by one cycle every `cycle_ms`.
pub(super) async fn ticker(inner: Arc<Inner>) {
    let period = Duration::from_millis(inner.opts.cycle_ms.max(1));
    let mut interval = tokio::time::interval_at(Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let opts = &inner.opts;
        let mut any = false;
        {
            let mut st = inner.lock();
            for key in st.all_keys() {
                if st.exp(key).is_some_and(|e| e.state == ExpState::Running) {
                    st.run_cycle(opts, key);
                    any = true;
                }
            }
            st.flush();
        }
        if any {
            inner.bump();
        }
    }
}

async fn connection(inner: Arc<Inner>, conn: u64, stream: TcpStream, peer: SocketAddr) {
    let _guard = ConnGuard {
        inner: Arc::clone(&inner),
        conn,
    };
    let _ = stream.set_nodelay(true);
    let mut ws = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_async(stream),
    )
    .await
    {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!("fake-gama: handshake with {peer} failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("fake-gama: handshake with {peer} timed out");
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let socket_id = socket_id_for(conn);
    {
        let mut st = inner.lock();
        st.accepted += 1;
        st.conns.insert(
            conn,
            Conn {
                tx,
                socket_id: socket_id.clone(),
            },
        );
        // GamaGuiWebSocketServer.onOpen: the newest socket takes over status and output.
        st.latest = Some(conn);
    }
    inner.bump();
    tracing::debug!("fake-gama: connection {conn} from {peer} (socket {socket_id})");
    let hello = to_text(&ConnectionSuccessful {
        ty: "ConnectionSuccessful",
        content: &socket_id,
    });
    if ws.send(Message::text(hello)).await.is_err() {
        return;
    }
    serve(&inner, conn, ws, rx).await;
    tracing::debug!("fake-gama: connection {conn} from {peer} ended");
}

async fn serve(
    inner: &Arc<Inner>,
    conn: u64,
    mut ws: WebSocketStream<TcpStream>,
    mut rx: mpsc::UnboundedReceiver<Out>,
) {
    // The socket's commands are handled one after the other, as GAMA does, while what GAMA sends
    // to the socket goes on being written.
    let (commands, mut queued) = mpsc::unbounded_channel::<String>();
    let handler = async {
        while let Some(text) = queued.recv().await {
            if let Some(busy) = sync_step_duration(&inner.opts, &text) {
                tokio::time::sleep(busy).await;
            }
            inner.handle_text(conn, &text);
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = handler => {}
        () = write_and_read(inner, conn, &mut ws, &mut rx, commands) => {}
    }
}

/// How long a synchronous `step` command keeps its socket busy ([`FakeGamaOptions::step_ms`]).
fn sync_step_duration(opts: &FakeGamaOptions, text: &str) -> Option<Duration> {
    if opts.step_ms == 0 {
        return None;
    }
    let cmd: Value = serde_json::from_str(text).ok()?;
    let sync = field_text(&cmd, "sync").is_some_and(|s| s.trim() == "true");
    if cmd.get("type").and_then(Value::as_str) != Some("step") || !sync {
        return None;
    }
    let steps = nb_step(&cmd).ok()?.clamp(0, MAX_STEPS_PER_COMMAND);
    Some(Duration::from_millis(opts.step_ms) * u32::try_from(steps).unwrap_or(0))
}

/// Writes what is queued for the connection and reads its frames, handing commands to `commands`.
async fn write_and_read(
    inner: &Arc<Inner>,
    conn: u64,
    ws: &mut WebSocketStream<TcpStream>,
    rx: &mut mpsc::UnboundedReceiver<Out>,
    commands: mpsc::UnboundedSender<String>,
) {
    let mut delayed: VecDeque<(Instant, String)> = VecDeque::new();
    let ping_period = inner.opts.ping_interval.filter(|d| !d.is_zero());
    let mut ping = tokio::time::interval_at(
        Instant::now() + ping_period.unwrap_or(Duration::from_secs(3600)),
        ping_period.unwrap_or(Duration::from_secs(3600)),
    );
    loop {
        let next_delayed = delayed.front().map(|(at, _)| *at);
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    tracing::trace!("fake-gama: <- {conn}: {}", text.as_str());
                    let _ = commands.send(text.as_str().to_owned());
                }
                Some(Ok(Message::Binary(b))) => {
                    tracing::info!("fake-gama: ignoring a binary frame of {} bytes from connection {conn}", b.len());
                }
                Some(Ok(_)) => {} // ping/pong handled by tungstenite; close → stream ends next
                Some(Err(e)) => {
                    tracing::debug!("fake-gama: connection {conn} read error: {e}");
                    return;
                }
                None => return,
            },
            out = rx.recv() => match out {
                Some(Out::Text(frame)) => {
                    if ws.send(Message::text(frame)).await.is_err() {
                        return;
                    }
                }
                Some(Out::Delayed(at, frame)) => {
                    let at = delayed.back().map_or(at, |(last, _)| at.max(*last));
                    delayed.push_back((at, frame));
                }
                Some(Out::Close(code, reason)) => {
                    close_gracefully(ws, code, &reason).await;
                    return;
                }
                None => return,
            },
            _ = sleep_until_opt(next_delayed) => {
                if let Some((_, frame)) = delayed.pop_front()
                    && ws.send(Message::text(frame)).await.is_err()
                {
                    return;
                }
            }
            _ = ping.tick(), if ping_period.is_some() => {
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends a close frame and waits (bounded, even if the peer stopped reading) for the peer's
/// answer before dropping the socket.
async fn close_gracefully(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}
