//! The senders: GAMA's output on a fixed tick, and the headsets' asks, each on a dedicated OS
//! thread.
//!
//! Tokio's timers have a 1 ms granularity, which would blur sub-millisecond latencies; a plain
//! thread sleeping until each scheduled instant wakes within tens of microseconds. Each message
//! carries its *scheduled* time, so if the sender falls behind (the system under test pushing back)
//! the delay is charged to the messages, not silently absorbed (no coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::fake_gama::FakeGama;
use crate::measure::ns_at;
use crate::payload::{Body, Element, Stamp, ask_message, linker_frame, output_frame_len};
use crate::stats::{Lag, new_histogram};

/// Who GAMA's output is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fanout {
    /// One element per headset, each addressed to that headset alone (a world per player).
    Each,
    /// One element addressed to every headset (serialised once by a relay).
    All,
}

/// Where GAMA's output goes.
#[derive(Debug, Clone)]
pub enum OutputTarget {
    /// To the relay, as `SimulationOutput` frames of the fake GAMA.
    Relay(Arc<FakeGama>),
    /// Straight to each headset as `json_output` frames (the `--direct` baseline), by index.
    Direct(Vec<Option<mpsc::Sender<Message>>>),
}

/// One phase of GAMA's output.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    /// Phase number, stamped into every payload.
    pub phase: u64,
    /// When tick 0 is due.
    pub t0: Instant,
    /// Ticks per second.
    pub rate_hz: f64,
    /// Ticks before the measured window.
    pub warmup_ticks: u64,
    /// Ticks in the measured window.
    pub measured_ticks: u64,
    /// Addressing.
    pub fanout: Fanout,
    /// The payload of every tick.
    pub update: Arc<Body>,
    /// Sent instead of the update on the first measured tick, if any (bigworld's initial world).
    pub init: Option<Arc<Body>>,
    /// Player ids, by index.
    pub players: Arc<Vec<String>>,
    /// When to give up on a stuck receiver.
    pub give_up_at: Instant,
}

/// One phase of the headsets' asks.
#[derive(Debug, Clone)]
pub struct AskPlan {
    /// Phase number, stamped into every ask.
    pub phase: u64,
    /// When the first ask is due.
    pub t0: Instant,
    /// Asks per second per headset.
    pub rate_hz: f64,
    /// Asks per headset before the measured window.
    pub warmup_asks: u64,
    /// Asks per headset in the measured window.
    pub measured_asks: u64,
    /// Player ids, by index.
    pub players: Arc<Vec<String>>,
    /// When to give up on a stuck receiver.
    pub give_up_at: Instant,
}

/// What a sender did.
#[derive(Debug, Clone, Default)]
pub struct SendReport {
    /// Size of each measured frame as a headset should receive it (GAMA's output only).
    pub frame_len: Vec<u64>,
    /// How late the sender woke up for the measured messages.
    pub lag: Lag,
    /// Messages that could not be queued (no connection, or a receiver stuck until `give_up_at`).
    pub send_failures: u64,
}

/// The instant of tick `k` at `per_second` ticks per second from `t0`.
pub fn tick_at(t0: Instant, k: u64, per_second: f64) -> Instant {
    t0 + Duration::from_secs_f64(k as f64 / per_second)
}

/// Sleeps until `deadline` (at once if it has passed).
fn sleep_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep(deadline - now);
    }
}

/// Queues `message`, waiting while the queue is full but not past `give_up_at`.
fn push(tx: &mpsc::Sender<Message>, mut message: Message, give_up_at: Instant) -> bool {
    loop {
        match tx.try_send(message) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(m)) => {
                if Instant::now() >= give_up_at {
                    return false;
                }
                message = m;
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }
}

/// Runs `work` on its own thread; the report arrives on the returned channel.
fn on_thread(
    name: &str,
    work: impl FnOnce() -> SendReport + Send + 'static,
) -> anyhow::Result<oneshot::Receiver<SendReport>> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = tx.send(work());
        })?;
    Ok(rx)
}

/// Starts GAMA's output for one phase.
pub fn spawn_output(
    plan: OutputPlan,
    target: OutputTarget,
) -> anyhow::Result<oneshot::Receiver<SendReport>> {
    on_thread("gama-output", move || run_output(&plan, &target))
}

fn run_output(plan: &OutputPlan, target: &OutputTarget) -> SendReport {
    let mut report = SendReport::default();
    let mut lags = new_histogram();
    let singles: Vec<&[String]> = plan.players.iter().map(std::slice::from_ref).collect();
    let end = plan.warmup_ticks + plan.measured_ticks;
    for k in 0..end {
        let due = tick_at(plan.t0, k, plan.rate_hz);
        sleep_until(due);
        let lag = Instant::now().saturating_duration_since(due);
        if k >= plan.warmup_ticks {
            let _ = lags.record(lag.as_nanos().clamp(1, 60_000_000_000) as u64);
        }
        let stamp = Stamp {
            phase: plan.phase,
            seq: k,
            t_ns: ns_at(due),
        };
        let body = match &plan.init {
            Some(init) if k == plan.warmup_ticks => init,
            _ => &plan.update,
        };
        match target {
            OutputTarget::Relay(gama) => {
                let elements: Vec<Element<'_>> = match plan.fanout {
                    Fanout::Each => singles
                        .iter()
                        .map(|players| Element { players, body })
                        .collect(),
                    Fanout::All => vec![Element {
                        players: &plan.players,
                        body,
                    }],
                };
                let frame = Message::text(linker_frame(&elements, stamp));
                let sent = gama
                    .sender()
                    .is_some_and(|tx| push(&tx, frame, plan.give_up_at));
                if !sent {
                    report.send_failures += 1;
                }
            }
            OutputTarget::Direct(routes) => {
                // Every headset gets the same bytes: build once, share.
                let frame = Utf8Bytes::from(crate::payload::output_frame(body, stamp));
                for route in routes {
                    let sent = route
                        .as_ref()
                        .is_some_and(|tx| push(tx, Message::Text(frame.clone()), plan.give_up_at));
                    if !sent {
                        report.send_failures += 1;
                    }
                }
            }
        }
        if k >= plan.warmup_ticks {
            report.frame_len.push(output_frame_len(body, stamp) as u64);
        }
    }
    report.lag = Lag::of(&lags);
    report
}

/// Starts the headsets' asks for one phase; `senders[i]` is headset `i`'s queue.
pub fn spawn_asks(
    plan: AskPlan,
    senders: Vec<mpsc::Sender<Message>>,
) -> anyhow::Result<oneshot::Receiver<SendReport>> {
    on_thread("headset-asks", move || run_asks(&plan, &senders))
}

/// Every headset asks `rate_hz` times a second, the headsets evenly out of phase with each other
/// (Unity clients are not synchronised): ask `j` of headset `i` is due at `(j + i/n) / rate_hz`.
fn run_asks(plan: &AskPlan, senders: &[mpsc::Sender<Message>]) -> SendReport {
    let n = senders.len();
    let mut report = SendReport::default();
    let mut lags = new_histogram();
    if n == 0 {
        return report;
    }
    let total = (plan.warmup_asks + plan.measured_asks) * n as u64;
    let per_second = plan.rate_hz * n as f64;
    for e in 0..total {
        let (i, j) = ((e % n as u64) as usize, e / n as u64);
        let due = tick_at(plan.t0, e, per_second);
        sleep_until(due);
        let lag = Instant::now().saturating_duration_since(due);
        if j >= plan.warmup_asks {
            let _ = lags.record(lag.as_nanos().clamp(1, 60_000_000_000) as u64);
        }
        let stamp = Stamp {
            phase: plan.phase,
            seq: j,
            t_ns: ns_at(due),
        };
        let text = ask_message(&plan.players[i], stamp);
        if !push(&senders[i], Message::text(text), plan.give_up_at) {
            report.send_failures += 1;
        }
    }
    report.lag = Lag::of(&lags);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::epoch;

    #[test]
    fn ticks_are_evenly_spaced() {
        let t0 = epoch();
        assert_eq!(tick_at(t0, 0, 30.0), t0);
        assert_eq!(tick_at(t0, 30, 30.0), t0 + Duration::from_secs(1));
        assert_eq!(tick_at(t0, 1, 4.0), t0 + Duration::from_millis(250));
    }

    #[test]
    fn direct_output_counts_what_it_sends() {
        let (tx, mut rx) = mpsc::channel(64);
        let players = Arc::new(vec!["Player_001".to_string(), "Player_002".to_string()]);
        let now = Instant::now();
        let plan = OutputPlan {
            phase: 1,
            t0: now,
            rate_hz: 1000.0,
            warmup_ticks: 2,
            measured_ticks: 3,
            fanout: Fanout::Each,
            update: Arc::new(Body::new(r#"{"a":1}"#).unwrap()),
            init: Body::new(r#"{"init":1}"#).map(Arc::new),
            players,
            give_up_at: now + Duration::from_secs(5),
        };
        let report = run_output(&plan, &OutputTarget::Direct(vec![Some(tx), None]));
        assert_eq!(report.frame_len.len(), 3);
        assert_eq!(report.send_failures, 5, "player 2 has no route");
        let mut frames = Vec::new();
        while let Ok(Message::Text(t)) = rx.try_recv() {
            frames.push(t.to_string());
        }
        assert_eq!(frames.len(), 5);
        assert!(frames[2].starts_with(r#"{"contents":{"init":1,"bench":[1,2,"#));
        assert!(frames[3].starts_with(r#"{"contents":{"a":1,"bench":[1,3,"#));
        let sizes: Vec<u64> = frames[2..].iter().map(|f| f.len() as u64).collect();
        assert_eq!(report.frame_len, sizes);
    }

    #[test]
    fn asks_interleave_headsets_and_count_the_window() {
        let (tx0, mut rx0) = mpsc::channel(64);
        let (tx1, rx1) = mpsc::channel(64);
        drop(rx1);
        let now = Instant::now();
        let plan = AskPlan {
            phase: 2,
            t0: now,
            rate_hz: 500.0,
            warmup_asks: 1,
            measured_asks: 4,
            players: Arc::new(vec!["Player_001".into(), "Player_002".into()]),
            give_up_at: now + Duration::from_secs(5),
        };
        let report = run_asks(&plan, &[tx0, tx1]);
        assert_eq!(report.send_failures, 5, "headset 2's queue is closed");
        let mut n = 0;
        while let Ok(Message::Text(t)) = rx0.try_recv() {
            assert!(t.contains("Player_001"));
            n += 1;
        }
        assert_eq!(n, 5);
    }
}
