//! One headset connection as the rest of the relay sees it: its bounded outbound queue, a close
//! request, liveness and traffic counters.
//!
//! The session and GAMA's output reach a headset only through this handle; the socket itself
//! belongs to [`crate::headsets::endpoint`]. A headset that lets its queue pass `headsets.max_queue_bytes` is
//! disconnected with a reason instead of slowing everyone else or losing messages silently.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::headsets::outbox::{Full, Outbox, QueueLimits};
use crate::protocol::Frame;
use crate::protocol::linker::PayloadKind;
use crate::server::metrics::Metrics;
use crate::support::pace::LogLimiter;

/// Traffic counters of one connection.
#[derive(Debug, Default)]
struct Stats {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    /// World updates replaced by a newer one before this headset could take them.
    coalesced: AtomicU64,
    /// Linker payloads (`json_output`) queued for this headset: its share of GAMA's output, apart
    /// from keep-alive and state messages, which is what tells a fed headset from a starving one.
    outputs: AtomicU64,
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

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closing.
    Closed,
    /// The queue is full: the connection is being closed.
    Overflow,
}

const NO_VALUE: u64 = u64::MAX;

/// A headset connection.
#[derive(Debug)]
pub struct Conn {
    /// Unique number of this connection (for logs and identity).
    pub serial: u64,
    /// The headset's address.
    pub remote: SocketAddr,
    outbox: Outbox,
    /// Bytes the WebSocket library wrote by itself (a pong): sent before the next frames.
    raw: Mutex<Vec<u8>>,
    close_request: Mutex<Option<(u16, String)>>,
    closing: CancellationToken,
    opened: Instant,
    last_seen_ms: AtomicU64,
    ping_sent_ms: AtomicU64,
    rtt_ms: AtomicU64,
    heartbeat_ms: AtomicU64,
    last_output_ms: AtomicU64,
    stats: Stats,
    /// Limits error replies and log lines about this headset's bad input.
    pub complaints: LogLimiter,
    metrics: Arc<Metrics>,
}

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
            outbox: Outbox::new(limits),
            raw: Mutex::new(Vec::new()),
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

    fn send_payload(&self, frame: Frame, kind: PayloadKind) -> Result<(), SendError> {
        if self.closing.is_cancelled() {
            return Err(SendError::Closed);
        }
        match self.outbox.push(frame, kind) {
            Ok(0) => Ok(()),
            Ok(coalesced) => {
                self.stats.coalesced.fetch_add(coalesced, Ordering::Relaxed);
                self.metrics.world_updates_coalesced.inc_by(coalesced);
                Ok(())
            }
            Err(Full { queued }) => {
                self.overflow(queued);
                Err(SendError::Overflow)
            }
        }
    }

    /// The queue passed its bound with `queued` bytes waiting: the connection is closed.
    fn overflow(&self, queued: usize) {
        let limit = self.outbox.max_bytes();
        self.metrics.slow_headsets_disconnected.inc();
        tracing::warn!(
            peer = %self.remote,
            queued_bytes = queued,
            limit,
            "headset is not reading fast enough; disconnecting it"
        );
        self.close(
            1008,
            format!("too slow: {queued} bytes waiting (headsets.max_queue_bytes = {limit})"),
        );
    }

    /// Queues bytes the WebSocket library wrote by itself (whole frames: a pong). They count
    /// against the queue's bound: a headset that sends pings and never reads is closed.
    pub fn send_raw(&self, bytes: &[u8]) {
        if self.closing.is_cancelled() {
            // The writer sends the close frame and nothing after it.
            return;
        }
        let queued = {
            let mut raw = self.raw.lock();
            let queued = raw.len() + self.outbox.backlog().1;
            if queued + bytes.len() <= self.outbox.max_bytes() {
                raw.extend_from_slice(bytes);
                None
            } else {
                Some(queued)
            }
        };
        match queued {
            None => self.outbox.wake(),
            Some(queued) => self.overflow(queued),
        }
    }

    /// Takes the bytes [`Conn::send_raw`] queued, for the writer.
    pub fn take_raw(&self) -> Vec<u8> {
        std::mem::take(&mut *self.raw.lock())
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
        self.outbox.wake();
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
    pub fn drain(&self, into: &mut Vec<Frame>) {
        self.outbox.drain(into);
    }

    /// Accounts for frames the writer has written.
    pub fn written(&self, frames: usize, bytes: usize) {
        self.outbox.written(bytes);
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
    pub async fn woken(&self) {
        self.outbox.woken().await;
    }

    /// Whether frames (or raw bytes) wait to be written.
    pub fn has_queued(&self) -> bool {
        self.outbox.has_queued() || !self.raw.lock().is_empty()
    }

    /// Bytes queued or being written.
    pub fn queue_bytes(&self) -> usize {
        self.outbox.backlog().1
    }

    /// Resolves once everything queued so far has been written to the socket.
    pub async fn flushed(&self) {
        self.outbox.flushed().await;
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
        self.outbox.wake();
    }

    /// Liveness and traffic, for display.
    pub fn view(&self) -> ConnView {
        let (queue_messages, queue_bytes) = self.outbox.backlog();
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

    fn conn(max_bytes: usize) -> Arc<Conn> {
        Conn::new(
            1,
            "127.0.0.1:1".parse().unwrap(),
            QueueLimits {
                max_bytes,
                coalesce_after: Duration::ZERO,
            },
            Metrics::new(),
        )
    }

    #[test]
    fn overflow_closes_with_a_reason() {
        let c = conn(10);
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
        assert_eq!(c.view().messages_out, 1);
    }

    #[test]
    fn coalesced_world_updates_are_counted() {
        let c = conn(1000);
        for n in 0..3 {
            c.send_output(Frame::from(format!("w{n}")), PayloadKind::WorldUpdate)
                .unwrap();
        }
        assert_eq!(c.view().coalesced, 2);
        assert_eq!(c.view().outputs, 3);
    }

    #[test]
    fn rtt_from_ping_and_pong() {
        let c = conn(10);
        assert_eq!(c.view().rtt_ms, None);
        c.ping_sent();
        c.pong_received();
        assert!(c.view().rtt_ms.is_some());
    }
}
