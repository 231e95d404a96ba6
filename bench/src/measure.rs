//! The shared clock and the measurement windows.
//!
//! Senders and receivers live in this one process, so latency is a difference of two readings of
//! one monotonic clock: the sender stamps the *scheduled* send time (so a sender held back by
//! back-pressure still charges the wait to the system under test), the receiver subtracts it from
//! the moment the frame came out of its socket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use crate::payload::{AskStamp, parse_ask_args};
use crate::stats::Acc;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The instant stamps count from.
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from the epoch to `t` (0 for instants before it).
pub fn ns_at(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_nanos() as u64
}

/// Nanoseconds since the epoch.
pub fn now_ns() -> u64 {
    ns_at(Instant::now())
}

/// Which messages count: those of the current phase whose sequence number is in `[lo, hi)`.
/// Warm-up messages have lower numbers; stragglers of an earlier phase have another phase.
/// One message of the window may be marked (the bigworld scenario's initial world) to have its
/// latency reported on its own.
#[derive(Debug)]
pub struct Window {
    phase: AtomicU64,
    lo: AtomicU64,
    hi: AtomicU64,
    mark: AtomicU64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            phase: AtomicU64::new(0),
            lo: AtomicU64::new(0),
            hi: AtomicU64::new(0),
            mark: AtomicU64::new(u64::MAX),
        }
    }
}

impl Window {
    /// Opens the window of a new phase (before its first message is sent).
    pub fn set(&self, phase: u64, lo: u64, hi: u64, mark: Option<u64>) {
        self.mark.store(mark.unwrap_or(u64::MAX), Ordering::Relaxed);
        self.lo.store(lo, Ordering::Relaxed);
        self.hi.store(hi, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// Whether a message is measured.
    pub fn contains(&self, phase: u64, seq: u64) -> bool {
        self.phase.load(Ordering::Acquire) == phase
            && (self.lo.load(Ordering::Relaxed)..self.hi.load(Ordering::Relaxed)).contains(&seq)
    }

    /// Whether `seq` (of the current phase) is the marked message.
    pub fn is_marked(&self, seq: u64) -> bool {
        self.mark.load(Ordering::Relaxed) == seq
    }
}

/// The receiving end of the headsets' asks (the fake GAMA, or the direct server): one accumulator
/// for every connection, replaced at each phase.
#[derive(Debug)]
pub struct AskSink {
    /// Which asks are measured.
    pub window: Window,
    acc: Mutex<Acc>,
    received: AtomicU64,
    unreadable: AtomicU64,
}

impl AskSink {
    /// A sink for `players` headsets.
    pub fn new(players: usize) -> AskSink {
        AskSink {
            window: Window::default(),
            acc: Mutex::new(Acc::new(players)),
            received: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
        }
    }

    /// Records an ask whose `args` text arrived at `now_ns`, in a frame of `frame_len` bytes.
    pub fn record(&self, args: &str, frame_len: usize, now_ns: u64) {
        let Some(AskStamp { player, stamp }) = parse_ask_args(args) else {
            self.unreadable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if !self.window.contains(stamp.phase, stamp.seq) {
            return;
        }
        let latency = now_ns.saturating_sub(stamp.t_ns);
        self.acc
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(player, stamp.seq, latency, frame_len);
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Measured asks received in this phase so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Asks whose arguments carried no readable stamp.
    pub fn unreadable(&self) -> u64 {
        self.unreadable.load(Ordering::Relaxed)
    }

    /// Takes what was accumulated and starts afresh for `players` headsets.
    pub fn take(&self, players: usize) -> Acc {
        let acc = std::mem::replace(
            &mut *self.acc.lock().unwrap_or_else(|e| e.into_inner()),
            Acc::new(players),
        );
        self.received.store(0, Ordering::Relaxed);
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Stamp;

    #[test]
    fn window_filters_phase_and_range() {
        let w = Window::default();
        w.set(3, 10, 20, Some(12));
        assert!(w.contains(3, 10));
        assert!(w.contains(3, 19));
        assert!(!w.contains(3, 20));
        assert!(!w.contains(3, 9));
        assert!(!w.contains(2, 15));
        assert!(w.is_marked(12) && !w.is_marked(13));
    }

    #[test]
    fn ask_sink_measures_only_the_window() {
        let sink = AskSink::new(2);
        sink.window.set(1, 5, 10, None);
        let args = |seq, t_ns| {
            let msg = crate::payload::ask_message(
                "Player_002",
                Stamp {
                    phase: 1,
                    seq,
                    t_ns,
                },
            );
            let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
            v["args"].as_str().unwrap().to_string()
        };
        sink.record(&args(4, 100), 50, 1_000); // warm-up
        sink.record(&args(5, 100), 50, 1_100);
        sink.record(&args(9, 200), 50, 1_200);
        sink.record("{}", 50, 1_200);
        assert_eq!(sink.received(), 2);
        assert_eq!(sink.unreadable(), 1);
        let acc = sink.take(2);
        assert_eq!(acc.hist.len(), 2);
        assert_eq!(acc.hist.max(), 1_000);
        assert_eq!(sink.received(), 0);
    }
}
