//! One headset connection as the rest of the relay sees it: a bounded outbound queue, a close
//! request, liveness and traffic counters.
//!
//! Producers (GAMA's reader task, the session) never wait on a headset: they append to the queue
//! and wake the connection's writer. The queue is bounded in bytes; a headset that lets it fill up
//! is disconnected with a reason instead of slowing everyone else or losing messages silently.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::protocol::Frame;
use crate::protocol::gama::PayloadKind;
use crate::util::LogLimiter;

/// Traffic counters of one connection.
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages received.
    pub messages_in: AtomicU64,
    /// Bytes received.
    pub bytes_in: AtomicU64,
    /// Messages written.
    pub messages_out: AtomicU64,
    /// Bytes written.
    pub bytes_out: AtomicU64,
    /// World updates replaced by a newer one before this headset could take them.
    pub coalesced: AtomicU64,
    /// Linker payloads (`json_output`) queued for this headset: its share of GAMA's output, apart
    /// from keep-alive and state messages, which is what tells a fed headset from a starving one.
    pub outputs: AtomicU64,
}

/// A snapshot of a connection's liveness and traffic, for the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct ConnView {
    /// Milliseconds since the last frame from the headset.
    pub last_seen_ms_ago: u64,
    /// Round-trip time of the last answered ping.
    pub rtt_ms: Option<u64>,
    /// Messages received.
    pub messages_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Messages written.
    pub messages_out: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Messages waiting to be written.
    pub queue_messages: usize,
    /// Bytes waiting to be written.
    pub queue_bytes: usize,
    /// World updates replaced by newer ones while the headset was behind.
    pub coalesced: u64,
    /// Linker payloads (`json_output`) queued for the headset.
    pub outputs: u64,
    /// Milliseconds since the last of them (`None`: none yet on this connection).
    pub last_output_ms_ago: Option<u64>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Frames with their kind and when they were queued.
    frames: VecDeque<(Frame, PayloadKind, Instant)>,
    bytes: usize,
    /// How many world updates wait in `frames` (so the common case never scans).
    worlds: usize,
}

/// How a connection's outbound queue is bounded.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Most bytes waiting.
    pub max_bytes: usize,
    /// Age of the oldest waiting world update that means the headset is behind.
    pub coalesce_after: Duration,
}

impl QueueLimits {
    /// The limits a configuration sets.
    pub fn of(config: &crate::config::HeadsetConfig) -> Self {
        QueueLimits {
            max_bytes: config.max_queue_bytes,
            coalesce_after: Duration::from_millis(config.coalesce_after_ms),
        }
    }
}

/// A headset connection.
#[derive(Debug)]
pub struct Conn {
    /// Unique number of this connection (for logs and identity).
    pub serial: u64,
    /// The headset's address.
    pub remote: SocketAddr,
    queue: Mutex<Queue>,
    wake: Notify,
    max_queue_bytes: usize,
    coalesce_after: Duration,
    close_request: Mutex<Option<(u16, String)>>,
    closing: CancellationToken,
    opened: Instant,
    last_seen_ms: AtomicU64,
    ping_sent_ms: AtomicU64,
    rtt_ms: AtomicU64,
    heartbeat_ms: AtomicU64,
    last_output_ms: AtomicU64,
    /// Traffic counters.
    pub stats: Stats,
    /// Limits error replies and log lines about this headset's bad input.
    pub complaints: LogLimiter,
    metrics: Arc<Metrics>,
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closing.
    Closed,
    /// The queue is full: the connection is being closed.
    Overflow,
}

const NO_VALUE: u64 = u64::MAX;

impl Conn {
    /// A new connection from `remote`.
    pub fn new(
        serial: u64,
        remote: SocketAddr,
        limits: QueueLimits,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Conn {
            serial,
            remote,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            max_queue_bytes: limits.max_bytes,
            coalesce_after: limits.coalesce_after,
            close_request: Mutex::new(None),
            closing: CancellationToken::new(),
            opened: Instant::now(),
            last_seen_ms: AtomicU64::new(0),
            ping_sent_ms: AtomicU64::new(NO_VALUE),
            rtt_ms: AtomicU64::new(NO_VALUE),
            heartbeat_ms: AtomicU64::new(0),
            last_output_ms: AtomicU64::new(NO_VALUE),
            stats: Stats::default(),
            complaints: LogLimiter::new(Duration::from_secs(1)),
            metrics,
        })
    }

    /// Queues a frame for the headset.
    pub fn send(&self, frame: Frame) -> Result<(), SendError> {
        self.send_payload(frame, PayloadKind::OneShot)
    }

    /// Queues a linker payload (`json_output`) for the headset, counting it as the headset's
    /// share of GAMA's output.
    pub fn send_output(&self, frame: Frame, kind: PayloadKind) -> Result<(), SendError> {
        self.send_payload(frame, kind)?;
        self.stats.outputs.fetch_add(1, Ordering::Relaxed);
        self.last_output_ms.store(self.now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// Queues a payload for the headset. A headset that fell behind (its oldest waiting world
    /// update has waited `coalesce_after`) gets the newest world instead of a backlog of stale
    /// ones, which Unity would drop anyway; one that keeps up gets every update. Anything else is
    /// kept; when the queue would pass its bound the headset is disconnected, with a reason and a
    /// log line, rather than losing a message silently.
    pub fn send_payload(&self, frame: Frame, kind: PayloadKind) -> Result<(), SendError> {
        if self.closing.is_cancelled() {
            return Err(SendError::Closed);
        }
        let len = frame.len();
        let now = Instant::now();
        let overflow = {
            let mut q = self.queue.lock();
            if kind == PayloadKind::WorldUpdate && q.worlds > 0 {
                let behind = q
                    .frames
                    .iter()
                    .find(|(_, k, _)| *k == PayloadKind::WorldUpdate)
                    .is_some_and(|(_, _, at)| now.duration_since(*at) >= self.coalesce_after);
                if behind {
                    let before = q.frames.len();
                    let mut freed = 0;
                    q.frames.retain(|(f, k, _)| {
                        let stale = *k == PayloadKind::WorldUpdate;
                        if stale {
                            freed += f.len();
                        }
                        !stale
                    });
                    let dropped = (before - q.frames.len()) as u64;
                    q.bytes -= freed;
                    q.worlds = 0;
                    self.stats.coalesced.fetch_add(dropped, Ordering::Relaxed);
                    self.metrics.world_updates_coalesced.inc_by(dropped);
                }
            }
            if q.bytes + len > self.max_queue_bytes && !q.frames.is_empty() {
                Some(q.bytes)
            } else {
                q.bytes += len;
                q.worlds += usize::from(kind == PayloadKind::WorldUpdate);
                q.frames.push_back((frame, kind, now));
                None
            }
        };
        if let Some(queued) = overflow {
            self.metrics.slow_headsets_disconnected.inc();
            tracing::warn!(
                peer = %self.remote,
                queued_bytes = queued,
                limit = self.max_queue_bytes,
                "headset is not reading fast enough; disconnecting it"
            );
            self.close(
                1008,
                format!(
                    "too slow: {queued} bytes waiting (headsets.max_queue_bytes = {})",
                    self.max_queue_bytes
                ),
            );
            return Err(SendError::Overflow);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Asks the connection to close with `code` and `reason` (the first request wins).
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        {
            let mut req = self.close_request.lock();
            if req.is_none() {
                *req = Some((code, reason.into()));
            }
        }
        self.closing.cancel();
        self.wake.notify_one();
    }

    /// Whether a close was requested.
    pub fn is_closing(&self) -> bool {
        self.closing.is_cancelled()
    }

    /// Resolves when a close was requested.
    pub async fn closed(&self) {
        self.closing.cancelled().await;
    }

    /// The close requested, if any.
    pub fn close_request(&self) -> Option<(u16, String)> {
        self.close_request.lock().clone()
    }

    /// Takes every queued frame, for the writer.
    pub(crate) fn drain(&self, into: &mut Vec<Frame>) {
        let mut q = self.queue.lock();
        q.worlds = 0;
        into.extend(q.frames.drain(..).map(|(f, _, _)| f));
    }

    /// Accounts for frames the writer has written.
    pub(crate) fn written(&self, frames: usize, bytes: usize) {
        self.queue.lock().bytes -= bytes;
        self.metrics.headset_messages_out.inc_by(frames as u64);
        self.metrics.headset_bytes_out.inc_by(bytes as u64);
        self.stats
            .messages_out
            .fetch_add(frames as u64, Ordering::Relaxed);
        self.stats
            .bytes_out
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Resolves when frames were queued or a close was requested.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Whether frames wait to be written.
    pub(crate) fn has_queued(&self) -> bool {
        !self.queue.lock().frames.is_empty()
    }

    fn now_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    /// Records an inbound frame: any frame proves the headset is alive.
    pub fn touch(&self, bytes: usize) {
        self.last_seen_ms.store(self.now_ms(), Ordering::Relaxed);
        self.metrics.headset_messages_in.inc();
        self.metrics.headset_bytes_in.inc_by(bytes as u64);
        self.stats.messages_in.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_in
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Time since the last inbound frame.
    pub fn silent_for(&self) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last_seen_ms.load(Ordering::Relaxed)),
        )
    }

    /// Records that a keep-alive ping was queued now.
    pub fn ping_sent(&self) {
        self.ping_sent_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Records the answer to the last ping.
    pub fn pong_received(&self) {
        let sent = self.ping_sent_ms.swap(NO_VALUE, Ordering::Relaxed);
        if sent != NO_VALUE {
            self.rtt_ms
                .store(self.now_ms().saturating_sub(sent), Ordering::Relaxed);
        }
    }

    /// The keep-alive period, once the headset registered (`None` before).
    pub fn heartbeat(&self) -> Option<Duration> {
        match self.heartbeat_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Sets the keep-alive period.
    pub fn set_heartbeat(&self, period: Duration) {
        self.heartbeat_ms
            .store(period.as_millis().max(1) as u64, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Liveness and traffic, for display.
    pub fn view(&self) -> ConnView {
        let (queue_messages, queue_bytes) = {
            let q = self.queue.lock();
            (q.frames.len(), q.bytes)
        };
        let rtt = self.rtt_ms.load(Ordering::Relaxed);
        let last_output = self.last_output_ms.load(Ordering::Relaxed);
        ConnView {
            last_seen_ms_ago: self.silent_for().as_millis() as u64,
            rtt_ms: (rtt != NO_VALUE).then_some(rtt),
            messages_in: self.stats.messages_in.load(Ordering::Relaxed),
            bytes_in: self.stats.bytes_in.load(Ordering::Relaxed),
            messages_out: self.stats.messages_out.load(Ordering::Relaxed),
            bytes_out: self.stats.bytes_out.load(Ordering::Relaxed),
            queue_messages,
            queue_bytes,
            coalesced: self.stats.coalesced.load(Ordering::Relaxed),
            outputs: self.stats.outputs.load(Ordering::Relaxed),
            last_output_ms_ago: (last_output != NO_VALUE)
                .then(|| self.now_ms().saturating_sub(last_output)),
        }
    }
}

/// A connection as the session stores it: compared by identity.
#[derive(Debug, Clone)]
pub struct ConnRef(pub Arc<Conn>);

impl PartialEq for ConnRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.serial == other.0.serial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_bytes: usize, coalesce_after_ms: u64) -> QueueLimits {
        QueueLimits {
            max_bytes,
            coalesce_after: Duration::from_millis(coalesce_after_ms),
        }
    }

    #[test]
    fn queue_is_bounded_in_bytes_and_overflow_closes() {
        let c = Conn::new(
            1,
            "127.0.0.1:1".parse().unwrap(),
            limits(10, 0),
            Metrics::new(),
        );
        assert_eq!(c.send(Frame::from("123456")), Ok(()));
        assert_eq!(c.send(Frame::from("123456")), Err(SendError::Overflow));
        assert!(c.is_closing());
        assert_eq!(c.close_request().unwrap().0, 1008);
        assert_eq!(c.send(Frame::from("1")), Err(SendError::Closed));
        let mut out = Vec::new();
        c.drain(&mut out);
        assert_eq!(out.len(), 1);
        c.written(1, 6);
        assert_eq!(c.view().queue_bytes, 0);
    }

    #[test]
    fn a_single_frame_larger_than_the_bound_still_goes_out() {
        // A big initial world must arrive whole even if it exceeds the bound on its own.
        let c = Conn::new(
            1,
            "127.0.0.1:1".parse().unwrap(),
            limits(4, 0),
            Metrics::new(),
        );
        assert_eq!(c.send(Frame::from("0123456789")), Ok(()));
    }

    #[test]
    fn a_waiting_world_update_is_replaced_by_the_newer_one() {
        let c = Conn::new(
            1,
            "127.0.0.1:1".parse().unwrap(),
            limits(1000, 0),
            Metrics::new(),
        );
        let world = |n: u32| Frame::from(format!("w{n}"));
        c.send(Frame::from("init")).unwrap();
        c.send_payload(world(1), PayloadKind::WorldUpdate).unwrap();
        c.send(Frame::from("props")).unwrap();
        c.send_payload(world(2), PayloadKind::WorldUpdate).unwrap();
        c.send_payload(world(3), PayloadKind::WorldUpdate).unwrap();
        let mut out = Vec::new();
        c.drain(&mut out);
        let got: Vec<&str> = out.iter().map(|f| f.as_str()).collect();
        assert_eq!(got, ["init", "props", "w3"]);
        assert_eq!(c.view().coalesced, 2);
        assert_eq!(c.view().queue_bytes, "init".len() + "props".len() + 2);
    }

    #[test]
    fn a_headset_that_keeps_up_gets_every_world_update() {
        let c = Conn::new(
            1,
            "127.0.0.1:1".parse().unwrap(),
            limits(1000, 60_000),
            Metrics::new(),
        );
        for n in 0..3 {
            c.send_payload(Frame::from(format!("w{n}")), PayloadKind::WorldUpdate)
                .unwrap();
        }
        let mut out = Vec::new();
        c.drain(&mut out);
        assert_eq!(out.len(), 3, "young updates are all kept");
        assert_eq!(c.view().coalesced, 0);
    }

    #[test]
    fn rtt_from_ping_and_pong() {
        let c = Conn::new(
            1,
            "127.0.0.1:1".parse().unwrap(),
            limits(10, 0),
            Metrics::new(),
        );
        assert_eq!(c.view().rtt_ms, None);
        c.ping_sent();
        c.pong_received();
        assert!(c.view().rtt_ms.is_some());
    }
}
