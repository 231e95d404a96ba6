//! Simulated Unity headsets, lean enough to be measuring instruments: each registers with Unity's
//! `connection`, answers the relay's `ping` with `pong`, sends the asks the ask schedule hands it,
//! and timestamps every `json_output` the moment it leaves the socket. The stamp is read from the
//! end of the frame, so even a 2 MB world costs no parsing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::measure::{Window, now_ns};
use crate::payload::{PONG, connection_message, parse_stamp, player_id};
use crate::stats::Acc;
use crate::ws;

/// Bound on connecting and on the first `json_state`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The source address of headset `index` with `--source-ips`: 127.0.0.2, 127.0.0.3, … (Linux
/// routes all of 127.0.0.0/8 to the loopback interface), so a relay that keys players by IP sees
/// distinct devices.
pub fn source_ip(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(127, 0, 0, 2)) + index as u32,
    ))
}

/// What a headset observed; read by the controller while the reader task writes it.
#[derive(Debug)]
pub struct Observed {
    acc: Mutex<Acc>,
    received: AtomicU64,
    /// `json_state` messages received.
    pub json_states: AtomicU64,
    /// `error` messages received from the relay.
    pub errors: AtomicU64,
    /// The last of them.
    pub last_error: Mutex<Option<String>>,
    closed: AtomicBool,
    /// Why the connection ended, once it has.
    pub close_reason: Mutex<Option<String>>,
}

impl Observed {
    fn new(players: usize) -> Observed {
        Observed {
            acc: Mutex::new(Acc::new(players)),
            received: AtomicU64::new(0),
            json_states: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            last_error: Mutex::new(None),
            closed: AtomicBool::new(false),
            close_reason: Mutex::new(None),
        }
    }

    fn set_closed(&self, reason: String) {
        let mut r = self.close_reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        self.closed.store(true, Ordering::Release);
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// One simulated headset.
#[derive(Debug)]
pub struct Headset {
    /// Its index (its id is [`player_id`] of it).
    pub index: usize,
    tx: mpsc::Sender<Message>,
    /// What it saw.
    pub observed: Arc<Observed>,
    reader: JoinHandle<()>,
}

impl Drop for Headset {
    fn drop(&mut self) {
        // The writer ends (sending a close frame) once the last sender is gone.
        self.reader.abort();
    }
}

impl Headset {
    /// Connects headset `index` of `players` to `target`, registers, and waits for its `json_state`.
    /// `window` tells which `json_output` frames are measured (shared by every headset).
    pub async fn connect(
        index: usize,
        players: usize,
        target: SocketAddr,
        source: Option<IpAddr>,
        window: Arc<Window>,
    ) -> anyhow::Result<Headset> {
        let id = player_id(index);
        let socket = if target.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = source {
            socket
                .bind(SocketAddr::new(ip, 0))
                .with_context(|| format!("{id}: cannot bind the source address {ip}"))?;
        }
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(target))
            .await
            .map_err(|_| anyhow!("{id}: connecting to {target} timed out"))?
            .with_context(|| format!("{id}: cannot connect to {target}"))?;
        stream.set_nodelay(true)?;
        let (ws, _) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::client_async_with_config(
                format!("ws://{target}/"),
                stream,
                Some(ws::config()),
            ),
        )
        .await
        .map_err(|_| anyhow!("{id}: WebSocket handshake with {target} timed out"))?
        .with_context(|| format!("{id}: WebSocket handshake with {target} failed"))?;
        let (sink, stream) = ws.split();
        let (tx, rx) = mpsc::channel(ws::QUEUE_FRAMES);
        tokio::spawn(ws::write_loop(sink, rx));
        tx.send(Message::text(connection_message(&id))).await?;
        let observed = Arc::new(Observed::new(players));
        let (ready_tx, ready_rx) = oneshot::channel();
        let reader = tokio::spawn(read_loop(
            stream,
            index,
            observed.clone(),
            window,
            tx.clone(),
            ready_tx,
        ));
        let headset = Headset {
            index,
            tx,
            observed,
            reader,
        };
        if tokio::time::timeout(CONNECT_TIMEOUT, ready_rx)
            .await
            .is_err()
        {
            let why = headset
                .observed
                .close_reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .or_else(|| {
                    headset
                        .observed
                        .last_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone()
                })
                .unwrap_or_else(|| "no answer".into());
            anyhow::bail!(
                "{id}: no json_state within {} s after `connection` ({why})",
                CONNECT_TIMEOUT.as_secs()
            );
        }
        Ok(headset)
    }

    /// The queue of frames this headset sends (its asks).
    pub fn sender(&self) -> mpsc::Sender<Message> {
        self.tx.clone()
    }

    /// Takes what was measured so far and starts afresh for `players` headsets.
    pub fn take(&self, players: usize) -> Acc {
        let acc = std::mem::replace(
            &mut *self.observed.acc.lock().unwrap_or_else(|e| e.into_inner()),
            Acc::new(players),
        );
        self.observed.received.store(0, Ordering::Relaxed);
        acc
    }

    /// Measured frames received in this phase so far.
    pub fn received(&self) -> u64 {
        self.observed.received.load(Ordering::Relaxed)
    }
}

type Stream = SplitStream<WebSocketStream<TcpStream>>;

async fn read_loop(
    mut stream: Stream,
    index: usize,
    observed: Arc<Observed>,
    window: Arc<Window>,
    tx: mpsc::Sender<Message>,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        let message = match stream.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                observed.set_closed(format!("connection failed: {e}"));
                return;
            }
            None => {
                observed.set_closed("connection dropped".into());
                return;
            }
        };
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => {
                observed.set_closed(match frame {
                    Some(f) => format!("closed by the relay: {} {}", u16::from(f.code), f.reason),
                    None => "closed by the relay".into(),
                });
                return;
            }
            _ => continue,
        };
        let now = now_ns();
        let text = text.as_str();
        if let Some(stamp) = parse_stamp(text) {
            if window.contains(stamp.phase, stamp.seq) {
                let latency = now.saturating_sub(stamp.t_ns);
                let mut acc = observed.acc.lock().unwrap_or_else(|e| e.into_inner());
                acc.record(index, stamp.seq, latency, text.len());
                if window.is_marked(stamp.seq) {
                    acc.mark(latency);
                }
                drop(acc);
                observed.received.fetch_add(1, Ordering::Relaxed);
            }
        } else if text.contains("\"type\":\"ping\"") {
            let _ = tx.try_send(Message::text(PONG));
        } else if text.contains("\"type\":\"json_state\"") {
            observed.json_states.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = ready.take() {
                let _ = r.send(());
            }
        } else if text.contains("\"type\":\"error\"") {
            observed.errors.fetch_add(1, Ordering::Relaxed);
            let short: String = text.chars().take(300).collect();
            *observed
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(short);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ips_count_up_from_127_0_0_2() {
        assert_eq!(source_ip(0), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(source_ip(99), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 101)));
        assert_eq!(source_ip(254), IpAddr::V4(Ipv4Addr::new(127, 0, 1, 0)));
    }
}
