//! Latency and delivery accounting: what each receiver accumulates, and the summary of a flow.
//!
//! Every receiver (a headset for GAMA's output, the fake GAMA or the direct server for asks) owns an
//! [`Acc`] for the current phase; they are merged once the phase is over, so the hot path takes no
//! shared lock. Latencies are recorded in nanoseconds in an HDR histogram (3 significant digits),
//! so percentiles stay exact to 0.1 % whatever the range.
//!
//! Delivery is accounted per player and per sequence number, which tells apart two ways a message
//! can fail to arrive: *lost* (nothing newer arrived either, or it was not replaceable) and
//! *superseded*, a world update skipped while a newer one of the same player did arrive. The second
//! is what a relay that coalesces world updates for a headset that fell behind does on purpose
//! (Unity drops stale worlds anyway, protocol.md §6.2); it is reported, never hidden.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms track: anything slower is clamped (and a benchmark that sees it
/// has failed anyway).
const MAX_TRACKABLE_NS: u64 = 120_000_000_000;

/// An empty latency histogram (1 ns to 120 s, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy the constructor's conditions (low ≥ 1, high ≥ 2·low,
    // 3 significant digits ≤ 5): it cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_TRACKABLE_NS, 3).expect("constant, valid histogram bounds")
}

/// Sequence numbers seen, as a growable bit set.
#[derive(Debug, Clone, Default)]
struct Seen {
    bits: Vec<u64>,
    max: Option<u64>,
}

impl Seen {
    /// Marks `seq`; false if it was already marked.
    fn insert(&mut self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        let fresh = self.bits[word] & (1 << bit) == 0;
        self.bits[word] |= 1 << bit;
        self.max = self.max.max(Some(seq));
        fresh
    }

    fn contains(&self, seq: u64) -> bool {
        self.bits
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    fn union(&mut self, other: &Seen) {
        if self.bits.len() < other.bits.len() {
            self.bits.resize(other.bits.len(), 0);
        }
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
        self.max = self.max.max(other.max);
    }
}

/// What one receiver saw of one flow during one phase.
#[derive(Debug, Clone)]
pub struct Acc {
    /// Latency of every measured message, nanoseconds.
    pub hist: Histogram<u64>,
    /// Bytes of the measured messages (whole frames as received, first copies only).
    pub bytes: u64,
    /// Messages received twice or out of order.
    pub out_of_order: u64,
    /// Highest latency of the marked message (see [`crate::measure::Window`]), if it arrived.
    pub marked_max_ns: Option<u64>,
    seen: Vec<Seen>,
}

impl Acc {
    /// An empty accumulator for `players` players.
    pub fn new(players: usize) -> Acc {
        Acc {
            hist: new_histogram(),
            bytes: 0,
            out_of_order: 0,
            marked_max_ns: None,
            seen: vec![Seen::default(); players],
        }
    }

    /// Records one measured message `seq` of `player`.
    pub fn record(&mut self, player: usize, seq: u64, latency_ns: u64, bytes: usize) {
        if player >= self.seen.len() {
            self.seen.resize(player + 1, Seen::default());
        }
        let seen = &mut self.seen[player];
        if seen.max.is_some_and(|m| seq <= m) {
            self.out_of_order += 1;
        }
        if seen.insert(seq) {
            let _ = self.hist.record(latency_ns.clamp(1, MAX_TRACKABLE_NS));
            self.bytes += bytes as u64;
        }
    }

    /// Records the latency of the marked message at one receiver.
    pub fn mark(&mut self, latency_ns: u64) {
        self.marked_max_ns = self.marked_max_ns.max(Some(latency_ns));
    }

    /// Adds another receiver's accumulator.
    pub fn merge(&mut self, other: &Acc) {
        self.marked_max_ns = self.marked_max_ns.max(other.marked_max_ns);
        let _ = self.hist.add(&other.hist);
        self.bytes += other.bytes;
        self.out_of_order += other.out_of_order;
        if self.seen.len() < other.seen.len() {
            self.seen.resize(other.seen.len(), Seen::default());
        }
        for (a, b) in self.seen.iter_mut().zip(&other.seen) {
            a.union(b);
        }
    }
}

/// What the sender meant to deliver in the measured window: messages `lo..hi` to every player.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// First measured sequence number.
    pub lo: u64,
    /// One past the last.
    pub hi: u64,
    /// Number of players.
    pub players: usize,
    /// Size of frame `lo + i` as every player should receive it, when known (GAMA's output; a
    /// relay rewrites asks, adding `exp_id` and its own fields).
    pub frame_len: Option<Vec<u64>>,
    /// The marked message (bigworld's initial world): never replaceable.
    pub marked: Option<u64>,
    /// Whether a missing message followed by a newer one of the same player counts as superseded
    /// (world updates) rather than lost (asks, and anything else).
    pub supersedable: bool,
}

impl Expected {
    /// Messages in total.
    pub fn total(&self) -> u64 {
        self.players as u64 * self.hi.saturating_sub(self.lo)
    }

    fn len_of(&self, seq: u64) -> Option<u64> {
        self.frame_len
            .as_ref()?
            .get(seq.checked_sub(self.lo)? as usize)
            .copied()
    }
}

/// The summary of one flow (GAMA → headsets, or headsets → GAMA) of one run.
#[derive(Debug, Clone, Serialize)]
pub struct FlowSummary {
    /// Messages whose latency was measured.
    pub count: u64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Messages delivered per second of the measured window.
    pub msgs_per_s: f64,
    /// Megabytes (10^6 bytes) delivered per second.
    pub mb_per_s: f64,
    /// Messages the sender sent in the window (to every player together).
    pub expected: u64,
    /// Distinct messages that arrived.
    pub received: u64,
    /// Messages that never arrived and were not replaced by a newer one.
    pub lost: u64,
    /// World updates that never arrived while a newer update of the same player did.
    pub superseded: u64,
    /// Bytes the sender sent in the window (every player), when frame sizes are known.
    pub bytes_expected: Option<u64>,
    /// Bytes that arrived.
    pub bytes_received: u64,
    /// Whether every frame that arrived had exactly the size sent (nothing altered or cut), when
    /// frame sizes are known.
    pub bytes_intact: Option<bool>,
    /// Messages received twice or out of order.
    pub out_of_order: u64,
    /// Players that missed messages (lost or superseded).
    pub players_with_misses: Vec<usize>,
    /// Latency of the marked message at the last receiver to get it (bigworld: the initial world
    /// delivered to every headset), ms.
    pub marked_ms: Option<f64>,
    /// Players that received the marked message.
    pub marked_received: Option<usize>,
}

/// Nanoseconds to milliseconds.
pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl FlowSummary {
    /// Summarises the merged accumulator of a flow against what was sent, over a window of
    /// `seconds`.
    pub fn new(acc: &Acc, expected: &Expected, seconds: f64) -> FlowSummary {
        let h = &acc.hist;
        let count = h.len();
        let q = |p: f64| {
            if count == 0 {
                0.0
            } else {
                ms(h.value_at_quantile(p))
            }
        };
        let empty = Seen::default();
        let (mut lost, mut superseded, mut intact_bytes) = (0, 0, 0);
        let mut players_with_misses = Vec::new();
        let mut marked_received = 0;
        for player in 0..expected.players {
            let seen = acc.seen.get(player).unwrap_or(&empty);
            let before = lost + superseded;
            for seq in expected.lo..expected.hi {
                if seen.contains(seq) {
                    intact_bytes += expected.len_of(seq).unwrap_or(0);
                    marked_received += usize::from(expected.marked == Some(seq));
                } else if expected.supersedable
                    && expected.marked != Some(seq)
                    && seen.max.is_some_and(|m| m > seq)
                {
                    superseded += 1;
                } else {
                    lost += 1;
                }
            }
            if lost + superseded > before {
                players_with_misses.push(player);
            }
        }
        let bytes_expected = expected
            .frame_len
            .as_ref()
            .map(|lens| lens.iter().sum::<u64>() * expected.players as u64);
        let seconds = seconds.max(1e-9);
        FlowSummary {
            count,
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: if count == 0 { 0.0 } else { ms(h.max()) },
            mean_ms: if count == 0 { 0.0 } else { h.mean() / 1e6 },
            msgs_per_s: count as f64 / seconds,
            mb_per_s: acc.bytes as f64 / 1e6 / seconds,
            expected: expected.total(),
            received: count,
            lost,
            superseded,
            bytes_expected,
            bytes_received: acc.bytes,
            bytes_intact: bytes_expected.map(|_| intact_bytes == acc.bytes),
            out_of_order: acc.out_of_order,
            players_with_misses,
            marked_ms: acc.marked_max_ns.map(ms),
            marked_received: expected.marked.map(|_| marked_received),
        }
    }

    /// Whether every message arrived, whole.
    pub fn complete(&self) -> bool {
        self.lost == 0 && self.superseded == 0 && self.bytes_intact != Some(false)
    }
}

/// How late a sender woke up after its scheduled instants (measured messages only): the
/// instrument's own error, already included in the latencies.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Lag {
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Worst, ms.
    pub max_ms: f64,
}

impl Lag {
    /// From a histogram of lags in nanoseconds.
    pub fn of(h: &Histogram<u64>) -> Lag {
        if h.is_empty() {
            return Lag::default();
        }
        Lag {
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }

    /// The worse of two.
    pub fn max(self, other: Lag) -> Lag {
        Lag {
            p99_ms: self.p99_ms.max(other.p99_ms),
            max_ms: self.max_ms.max(other.max_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(lo: u64, hi: u64, players: usize, len: Option<u64>) -> Expected {
        Expected {
            lo,
            hi,
            players,
            frame_len: len.map(|l| vec![l; (hi - lo) as usize]),
            marked: None,
            supersedable: false,
        }
    }

    #[test]
    fn percentiles_rates_and_losses() {
        let mut a = Acc::new(2);
        let mut b = Acc::new(2);
        // 1..=100 ms on player 0, split over two receivers.
        for i in 1..=50u64 {
            a.record(0, i, i * 1_000_000, 1_000);
        }
        for i in 51..=100u64 {
            b.record(0, i, i * 1_000_000, 1_000);
        }
        b.record(1, 1, 5_000_000, 1_000);
        b.mark(7_000_000);
        a.mark(3_000_000);
        a.merge(&b);
        let want = window(1, 101, 2, Some(1_000));
        let s = FlowSummary::new(&a, &want, 2.0);
        assert_eq!(s.count, 101);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{}", s.p50_ms);
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{}", s.p99_ms);
        assert!((s.max_ms - 100.0).abs() < 0.1, "{}", s.max_ms);
        assert!((s.msgs_per_s - 50.5).abs() < 1e-9);
        assert!((s.mb_per_s - 101_000.0 / 1e6 / 2.0).abs() < 1e-12);
        assert_eq!(s.expected, 200);
        assert_eq!(s.received, 101);
        assert_eq!(s.lost, 99);
        assert_eq!(s.superseded, 0);
        assert_eq!(s.players_with_misses, vec![1]);
        assert_eq!(s.bytes_expected, Some(200_000));
        assert_eq!(s.bytes_intact, Some(true));
        assert!(!s.complete());
        assert_eq!(s.marked_ms, Some(7.0));
    }

    #[test]
    fn a_skipped_world_update_followed_by_a_newer_one_is_superseded_not_lost() {
        let mut a = Acc::new(1);
        for seq in [10, 11, 14, 15] {
            a.record(0, seq, 1_000, 10);
        }
        let mut want = window(10, 17, 1, Some(10));
        want.supersedable = true;
        want.marked = Some(12);
        let s = FlowSummary::new(&a, &want, 1.0);
        // 12 is the marked initial world: lost. 13 was replaced by 14: superseded. 16 never came.
        assert_eq!((s.lost, s.superseded), (2, 1));
        assert_eq!(s.marked_received, Some(0));
        assert!(!s.complete());
        // Asks are never superseded.
        want.supersedable = false;
        assert_eq!(FlowSummary::new(&a, &want, 1.0).lost, 3);
    }

    #[test]
    fn altered_frames_are_detected_and_unknown_sizes_are_not_checked() {
        let mut a = Acc::new(1);
        a.record(0, 0, 1_000, 10);
        a.record(0, 1, 1_000, 11);
        let s = FlowSummary::new(&a, &window(0, 2, 1, Some(10)), 1.0);
        assert_eq!(s.bytes_intact, Some(false));
        assert!(!s.complete());
        let s = FlowSummary::new(&a, &window(0, 2, 1, None), 1.0);
        assert_eq!((s.bytes_expected, s.bytes_intact), (None, None));
        assert!(s.complete());
    }

    #[test]
    fn duplicates_and_reordering_are_counted_once() {
        let mut a = Acc::new(1);
        for seq in [1, 2, 2, 5, 4] {
            a.record(0, seq, 10, 1);
        }
        assert_eq!(a.out_of_order, 2);
        assert_eq!(a.hist.len(), 4);
        assert_eq!(a.bytes, 4);
    }

    #[test]
    fn empty_flow_summarises_to_zeroes() {
        let s = FlowSummary::new(&Acc::new(3), &window(0, 0, 3, Some(1)), 10.0);
        assert_eq!((s.count, s.lost, s.p99_ms, s.max_ms), (0, 0, 0.0, 0.0));
        assert!(s.complete());
    }

    #[test]
    fn lag_summary() {
        let mut h = new_histogram();
        assert_eq!(Lag::of(&h).max_ms, 0.0);
        for i in 1..=100 {
            h.record(i * 10_000).unwrap();
        }
        let lag = Lag::of(&h);
        assert!((lag.p99_ms - 0.99).abs() < 0.01 && (lag.max_ms - 1.0).abs() < 0.01);
    }

    #[test]
    fn huge_latencies_are_clamped_not_lost() {
        let mut a = Acc::new(1);
        a.record(0, 1, u64::MAX, 1);
        a.record(0, 2, 0, 1);
        assert_eq!(a.hist.len(), 2);
    }

    #[test]
    fn seen_sets_grow_and_merge() {
        let mut x = Seen::default();
        assert!(x.insert(200));
        assert!(!x.insert(200));
        let mut y = Seen::default();
        y.insert(3);
        x.union(&y);
        assert!(x.contains(3) && x.contains(200) && !x.contains(4));
        assert_eq!(x.max, Some(200));
    }
}
