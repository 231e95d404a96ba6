//! The scenarios and how one is run: set up the relay (or the direct server) and the headsets, run
//! one or more measured phases of traffic, collect what every receiver saw.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::cli::{Cli, ScenarioName};
use crate::direct::DirectServer;
use crate::fake_gama::FakeGama;
use crate::headsets::{Headset, source_ip};
use crate::measure::{AskSink, Window};
use crate::payload::{Body, player_id, world};
use crate::proc::{self, RssSampler};
use crate::relay_proc::{RelayTarget, RunningRelay};
use crate::stats::{Acc, Expected, FlowSummary, Lag};
use crate::traffic::{self, AskPlan, Fanout, OutputPlan, OutputTarget, SendReport};

/// Through the relay, or the baseline without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Fake GAMA → relay → headsets.
    Relay,
    /// Fake GAMA → headsets, no relay.
    Direct,
}

impl Mode {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Relay => "relay",
            Mode::Direct => "direct",
        }
    }
}

/// GAMA's output in a scenario.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    /// Ticks per second (the first step's, for the ramp).
    pub rate_hz: f64,
    /// Addressing.
    pub fanout: Fanout,
    /// World update size.
    pub update_bytes: usize,
    /// Initial world size, sent once at the start of the measured window.
    pub init_bytes: Option<usize>,
}

/// The ramp's search for saturation.
#[derive(Debug, Clone)]
pub struct RampSpec {
    /// Measured seconds per step.
    pub step_s: f64,
    /// Rate multiplier between steps.
    pub factor: f64,
    /// Most steps.
    pub max_steps: usize,
    /// p99 limit, ms.
    pub p99_limit_ms: f64,
}

/// One scenario, fully specified.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name.
    pub name: &'static str,
    /// Headsets connected.
    pub headsets: usize,
    /// GAMA's output, if any.
    pub output: Option<OutputSpec>,
    /// Asks per second per headset, if any.
    pub ask_hz: Option<f64>,
    /// Ramp, for the ramp scenario.
    pub ramp: Option<RampSpec>,
}

impl Scenario {
    /// The scenario `name` with the command line's overrides.
    pub fn new(name: ScenarioName, cli: &Cli) -> Scenario {
        let world = |fanout, init| OutputSpec {
            rate_hz: cli.rate.unwrap_or(30.0),
            fanout,
            update_bytes: cli.update_bytes,
            init_bytes: init,
        };
        let asks = Some(cli.ask_rate.unwrap_or(50.0));
        let (name, headsets, output, ask_hz, ramp) = match name {
            ScenarioName::Classroom | ScenarioName::All => {
                ("classroom", 6, Some(world(Fanout::Each, None)), asks, None)
            }
            ScenarioName::Fanout => ("fanout", 100, Some(world(Fanout::All, None)), None, None),
            ScenarioName::Bigworld => (
                "bigworld",
                6,
                Some(world(Fanout::Each, Some(cli.init_bytes))),
                None,
                None,
            ),
            ScenarioName::Asks => ("asks", 100, None, asks, None),
            ScenarioName::Ramp => (
                "ramp",
                6,
                Some(world(Fanout::Each, None)),
                None,
                Some(RampSpec {
                    step_s: cli.ramp_step,
                    factor: cli.ramp_factor,
                    max_steps: cli.ramp_max_steps,
                    p99_limit_ms: cli.ramp_p99_ms,
                }),
            ),
        };
        Scenario {
            name,
            headsets: cli.headsets.unwrap_or(headsets),
            output,
            ask_hz,
            ramp,
        }
    }
}

/// What every run shares.
#[derive(Debug)]
pub struct Ctx {
    /// Settings.
    pub cli: Cli,
    /// The fake GAMA, listening for the whole run.
    pub gama: Arc<FakeGama>,
    /// The relay under test.
    pub relay: RelayTarget,
    /// Headset screens streamed through the relay during each relay run (`--screens`).
    pub screens: Option<Arc<crate::screens::Screens>>,
}

/// One measured phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// GAMA output ticks per second.
    pub rate_hz: Option<f64>,
    /// Asks per second per headset.
    pub ask_rate_hz: Option<f64>,
    /// Measured seconds.
    pub seconds: f64,
    /// GAMA → headsets.
    pub output: Option<FlowSummary>,
    /// Headsets → GAMA.
    pub asks: Option<FlowSummary>,
    /// Relay CPU seconds (user + system) during the measured window.
    pub relay_cpu_s: Option<f64>,
    /// This tool's CPU seconds during the measured window (it shares the machine with the relay).
    pub bench_cpu_s: Option<f64>,
    /// CPU seconds used by every other process of the machine during the measured window: well
    /// above zero, something competed with the benchmark and its numbers are disturbed.
    pub other_cpu_s: Option<f64>,
    /// How late the senders woke up after their scheduled instants (the instrument's own error on
    /// this machine, already part of the latencies).
    pub sender_lag: Lag,
    /// Messages the senders could not queue.
    pub send_failures: u64,
    /// Headsets whose connection ended by the end of the phase.
    pub disconnects: usize,
}

/// Where the ramp stopped.
#[derive(Debug, Clone, Serialize)]
pub struct RampOutcome {
    /// The last step within the limits: its rate and what it delivered.
    pub saturation: Option<Saturation>,
    /// Why the ramp stopped.
    pub stopped_because: String,
}

/// Throughput at saturation.
#[derive(Debug, Clone, Serialize)]
pub struct Saturation {
    /// Ticks per second.
    pub rate_hz: f64,
    /// Messages delivered per second.
    pub msgs_per_s: f64,
    /// MB delivered per second.
    pub mb_per_s: f64,
    /// p99 latency at that step, ms.
    pub p99_ms: f64,
}

/// The relay's resources over a run.
#[derive(Debug, Clone, Serialize)]
pub struct RelayStats {
    /// Its process id.
    pub pid: Option<u32>,
    /// Whether the tool started it (then `peak_rss_mb` is the run's own peak).
    pub spawned: bool,
    /// RSS once connected to GAMA, before any headset, MB (10^6 bytes).
    pub idle_rss_mb: Option<f64>,
    /// Peak RSS: `VmHWM` for a relay started for this run, the highest sample otherwise, MB.
    pub peak_rss_mb: Option<f64>,
    /// Highest RSS sampled every 100 ms, MB.
    pub sampled_peak_rss_mb: Option<f64>,
    /// Its log, if the tool started it.
    pub log: Option<String>,
}

/// One scenario in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: &'static str,
    /// Relay or direct.
    pub mode: Mode,
    /// Headsets.
    pub headsets: usize,
    /// The measured phases (one, or the ramp's steps).
    pub phases: Vec<PhaseReport>,
    /// The ramp's result.
    pub ramp: Option<RampOutcome>,
    /// The relay's resources.
    pub relay: Option<RelayStats>,
    /// Anything worth knowing about the run (errors reported by the relay, disconnections…).
    pub notes: Vec<String>,
}

impl RunReport {
    /// The most CPU other processes used during a measured window of the run, in CPUs (0 when
    /// unknown).
    pub fn disturbance(&self) -> f64 {
        self.phases
            .iter()
            .filter_map(|p| Some(p.other_cpu_s? / p.seconds))
            .fold(0.0, f64::max)
    }

    /// The phase the summary table shows: the only one, or the ramp's saturation step.
    pub fn headline(&self) -> Option<&PhaseReport> {
        match &self.ramp {
            Some(ramp) => {
                let rate = ramp.saturation.as_ref()?.rate_hz;
                self.phases.iter().find(|p| p.rate_hz == Some(rate))
            }
            None => self.phases.first(),
        }
    }
}

fn kb_to_mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

/// The payloads of a scenario, generated once per run.
struct Payloads {
    update: Arc<Body>,
    init: Option<Arc<Body>>,
}

/// A scenario's connections: relay (or direct server) and headsets.
struct Session {
    mode: Mode,
    players: Arc<Vec<String>>,
    headsets: Vec<Headset>,
    window: Arc<Window>,
    asks: Arc<AskSink>,
    target: OutputTarget,
    relay: Option<RunningRelay>,
    direct: Option<Arc<DirectServer>>,
    sampler: Option<RssSampler>,
    idle_rss_kb: Option<u64>,
    drain: Duration,
    /// The headset screens' viewers (`--screens`), for the whole run.
    viewers: Option<crate::screens::Viewers>,
}

static NEXT_PHASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What one phase sends.
struct PhaseSpec {
    warmup: f64,
    measure: f64,
    output: Option<(f64, Fanout)>,
    ask_hz: Option<f64>,
}

/// The instants of one phase, fixed as it starts.
struct PhaseClock {
    /// When the senders' first message is due.
    t0: Instant,
    /// When the measured window opens, after the warm-up.
    measure_start: Instant,
    /// When it closes.
    measure_end: Instant,
    /// When the senders give up on a stuck receiver.
    give_up_at: Instant,
}

impl PhaseClock {
    /// The first message due in 20 ms, then the warm-up, the measured window, and the drain plus
    /// a second for the senders' patience.
    fn starting_now(spec: &PhaseSpec, drain: Duration) -> PhaseClock {
        let t0 = Instant::now() + Duration::from_millis(20);
        let measure_start = t0 + Duration::from_secs_f64(spec.warmup);
        let measure_end = measure_start + Duration::from_secs_f64(spec.measure);
        let give_up_at = measure_end + drain + Duration::from_secs(1);
        PhaseClock {
            t0,
            measure_start,
            measure_end,
            give_up_at,
        }
    }
}

/// Messages in `seconds` at `rate` a second, rounded.
fn messages_in(rate: f64, seconds: f64) -> u64 {
    (rate * seconds).round() as u64
}

/// One flow of a phase (GAMA's output, or the asks) once its sender is started.
struct StartedFlow {
    /// What the receivers should see in the measured window.
    window: Expected,
    /// Length of the measured window at the flow's rate, seconds.
    seconds: f64,
    /// The sender's report to come; none when the phase does not send this flow.
    sent: Option<oneshot::Receiver<SendReport>>,
}

impl StartedFlow {
    /// Waits for the sender to be done; `died` is the error if it vanished without a report.
    async fn finish(self, died: &'static str) -> anyhow::Result<FinishedFlow> {
        let sent = match self.sent {
            Some(rx) => Some(rx.await.context(died)?),
            None => None,
        };
        Ok(FinishedFlow {
            window: self.window,
            seconds: self.seconds,
            sent,
        })
    }
}

/// One flow of a phase once its sender is done.
struct FinishedFlow {
    /// What the receivers should see in the measured window.
    window: Expected,
    /// Length of the measured window at the flow's rate, seconds.
    seconds: f64,
    /// What the sender did; none when the phase did not send this flow.
    sent: Option<SendReport>,
}

impl FinishedFlow {
    /// Expects every measured frame to arrive with the size it was sent with (GAMA's output: a
    /// relay forwards it unchanged).
    fn expect_frame_sizes(&mut self) {
        if let Some(sent) = &self.sent {
            self.window.frame_len = Some(sent.frame_len.clone());
        }
    }

    /// Messages the receivers should get in the measured window (0 if the flow was not sent).
    fn wanted(&self) -> u64 {
        self.sent.as_ref().map_or(0, |_| self.window.total())
    }

    /// The flow's summary from what its receivers saw, if it was sent.
    fn summary(&self, received: &Acc) -> Option<FlowSummary> {
        self.sent
            .as_ref()
            .map(|_| FlowSummary::new(received, &self.window, self.seconds))
    }
}

/// CPU seconds used so far, each when known.
struct CpuTimes {
    relay: Option<f64>,
    bench: Option<f64>,
    machine: Option<f64>,
}

/// CPU seconds used between two readings.
struct CpuUse {
    /// By the relay.
    relay_s: Option<f64>,
    /// By this tool.
    bench_s: Option<f64>,
    /// By every other process of the machine.
    other_s: Option<f64>,
}

impl CpuUse {
    fn between(start: &CpuTimes, end: &CpuTimes) -> CpuUse {
        let relay_s = start.relay.zip(end.relay).map(|(a, b)| b - a);
        let bench_s = start.bench.zip(end.bench).map(|(a, b)| b - a);
        let other_s = start
            .machine
            .zip(end.machine)
            .map(|(a, b)| (b - a - relay_s.unwrap_or(0.0) - bench_s.unwrap_or(0.0)).max(0.0));
        CpuUse {
            relay_s,
            bench_s,
            other_s,
        }
    }
}

async fn connect_headsets(
    addr: SocketAddr,
    n: usize,
    source_ips: bool,
    window: &Arc<Window>,
) -> anyhow::Result<Vec<Headset>> {
    let mut set = JoinSet::new();
    let mut headsets: Vec<Option<Headset>> = (0..n).map(|_| None).collect();
    // A few at a time: a hundred simultaneous handshakes only measure the accept queue.
    for chunk in (0..n).collect::<Vec<_>>().chunks(20) {
        for &i in chunk {
            let window = window.clone();
            let source = source_ips.then(|| source_ip(i));
            set.spawn(async move { (i, Headset::connect(i, n, addr, source, window).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (i, headset) = joined.context("a headset task failed")?;
            headsets[i] = Some(headset?);
        }
    }
    Ok(headsets.into_iter().flatten().collect())
}

impl Session {
    async fn open(ctx: &Ctx, scenario: &Scenario, mode: Mode) -> anyhow::Result<Session> {
        let n = scenario.headsets;
        let players: Arc<Vec<String>> = Arc::new((0..n).map(player_id).collect());
        let window = Arc::new(Window::default());
        let drain = Duration::from_secs_f64(ctx.cli.drain);
        let mut session = match mode {
            Mode::Relay => {
                let relay = ctx.relay.start(&ctx.gama, scenario.name).await?;
                let viewers = match (&ctx.screens, relay.admin_addr) {
                    (Some(screens), Some(admin)) => Some(screens.watch(admin).await?),
                    _ => None,
                };
                // Idle: connected to GAMA, no headset yet, start-up settled.
                tokio::time::sleep(Duration::from_millis(500)).await;
                let idle_rss_kb = relay.pid.and_then(proc::memory).map(|m| m.rss_kb);
                Session {
                    mode,
                    players,
                    headsets: Vec::new(),
                    window,
                    asks: ctx.gama.asks.clone(),
                    target: OutputTarget::Relay(ctx.gama.clone()),
                    sampler: relay.pid.map(RssSampler::start),
                    relay: Some(relay),
                    direct: None,
                    idle_rss_kb,
                    drain,
                    viewers,
                }
            }
            Mode::Direct => {
                let server = DirectServer::start(n).await?;
                Session {
                    mode,
                    players,
                    headsets: Vec::new(),
                    window,
                    asks: server.asks.clone(),
                    target: OutputTarget::Direct(Vec::new()),
                    relay: None,
                    direct: Some(server),
                    sampler: None,
                    idle_rss_kb: None,
                    drain,
                    viewers: None,
                }
            }
        };
        let addr = match (&session.relay, &session.direct) {
            (Some(relay), _) => relay.headset_addr,
            (None, Some(direct)) => direct.addr(),
            (None, None) => anyhow::bail!("a session needs a relay or a direct server"),
        };
        let connected = connect_headsets(addr, n, ctx.cli.source_ips, &session.window).await;
        session.headsets = match connected {
            Ok(h) => h,
            Err(e) => {
                let tail = session
                    .relay
                    .as_ref()
                    .map(|r| r.log_tail())
                    .unwrap_or_default();
                return Err(e.context(format!("connecting {n} headsets to {addr}{tail}")));
            }
        };
        if let Some(direct) = &session.direct {
            session.target = OutputTarget::Direct(direct.routes());
        }
        Ok(session)
    }

    fn relay_cpu(&self) -> Option<f64> {
        self.relay
            .as_ref()?
            .pid
            .and_then(|p| proc::cpu_seconds(&p.to_string()))
    }

    fn received(&self) -> u64 {
        self.headsets.iter().map(Headset::received).sum()
    }

    /// Runs one measured phase: starts the senders, reads the CPU times at the edges of the
    /// measured window, waits for the senders and for late messages, then collects what every
    /// receiver saw.
    async fn run_phase(
        &mut self,
        spec: &PhaseSpec,
        payloads: &Payloads,
    ) -> anyhow::Result<PhaseReport> {
        // Phase numbers are unique in the process: a straggler of an earlier run is never counted.
        let phase = NEXT_PHASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.discard_earlier_receipts();
        let clock = PhaseClock::starting_now(spec, self.drain);
        let output = self.start_output(phase, spec, payloads, &clock)?;
        let asks = self.start_asks(phase, spec, &clock)?;
        let cpu = self.cpu_during_window(&clock).await;
        let mut output = output.finish("the output sender died").await?;
        let asks = asks.finish("the ask sender died").await?;
        output.expect_frame_sizes();
        self.drain_late_messages(output.wanted(), asks.wanted())
            .await;
        Ok(self.phase_report(spec, &output, &asks, cpu))
    }

    /// Empties every receiver's accumulator, so that the phase counts only its own messages.
    fn discard_earlier_receipts(&self) {
        let n = self.players.len();
        for h in &self.headsets {
            h.take(n);
        }
        self.asks.take(n);
    }

    /// Opens the headsets' measured window and starts GAMA's output, if the phase has any.
    fn start_output(
        &self,
        phase: u64,
        spec: &PhaseSpec,
        payloads: &Payloads,
        clock: &PhaseClock,
    ) -> anyhow::Result<StartedFlow> {
        let mut flow = StartedFlow {
            window: Expected {
                players: self.players.len(),
                supersedable: true,
                ..Expected::default()
            },
            seconds: 0.0,
            sent: None,
        };
        let Some((rate, fanout)) = spec.output else {
            return Ok(flow);
        };
        let warmup_ticks = messages_in(rate, spec.warmup);
        let measured_ticks = messages_in(rate, spec.measure).max(1);
        flow.seconds = measured_ticks as f64 / rate;
        let init_tick = payloads.init.is_some().then_some(warmup_ticks);
        flow.window.lo = warmup_ticks;
        flow.window.hi = warmup_ticks + measured_ticks;
        flow.window.marked = init_tick;
        self.window.set(
            phase,
            warmup_ticks,
            warmup_ticks + measured_ticks,
            init_tick,
        );
        let plan = OutputPlan {
            phase,
            t0: clock.t0,
            rate_hz: rate,
            warmup_ticks,
            measured_ticks,
            fanout,
            update: payloads.update.clone(),
            init: payloads.init.clone(),
            players: self.players.clone(),
            give_up_at: clock.give_up_at,
        };
        flow.sent = Some(traffic::spawn_output(plan, self.target.clone())?);
        Ok(flow)
    }

    /// Opens GAMA's measured window for asks and starts the headsets' asks, if the phase has any.
    fn start_asks(
        &self,
        phase: u64,
        spec: &PhaseSpec,
        clock: &PhaseClock,
    ) -> anyhow::Result<StartedFlow> {
        let mut flow = StartedFlow {
            window: Expected {
                players: self.players.len(),
                ..Expected::default()
            },
            seconds: 0.0,
            sent: None,
        };
        let Some(rate) = spec.ask_hz else {
            return Ok(flow);
        };
        let warmup_asks = messages_in(rate, spec.warmup);
        let measured_asks = messages_in(rate, spec.measure).max(1);
        flow.seconds = measured_asks as f64 / rate;
        flow.window.lo = warmup_asks;
        flow.window.hi = warmup_asks + measured_asks;
        self.asks
            .window
            .set(phase, warmup_asks, warmup_asks + measured_asks, None);
        let plan = AskPlan {
            phase,
            t0: clock.t0,
            rate_hz: rate,
            warmup_asks,
            measured_asks,
            players: self.players.clone(),
            give_up_at: clock.give_up_at,
        };
        let senders = self.headsets.iter().map(Headset::sender).collect();
        flow.sent = Some(traffic::spawn_asks(plan, senders)?);
        Ok(flow)
    }

    /// Sleeps until the measured window opens, reads the CPU times, sleeps until it closes, reads
    /// them again: the CPU the relay, this tool and every other process used in the window.
    async fn cpu_during_window(&self, clock: &PhaseClock) -> CpuUse {
        tokio::time::sleep_until(clock.measure_start.into()).await;
        let start = self.cpu_times();
        tokio::time::sleep_until(clock.measure_end.into()).await;
        let end = self.cpu_times();
        CpuUse::between(&start, &end)
    }

    /// The CPU seconds used so far by the relay, by this tool, and by the whole machine, read in
    /// that order.
    fn cpu_times(&self) -> CpuTimes {
        CpuTimes {
            relay: self.relay_cpu(),
            bench: proc::cpu_seconds("self"),
            machine: proc::machine_busy_seconds(),
        }
    }

    /// Waits for late messages, at most `--drain`, and not longer than a second after the last one
    /// arrived (a relay that skipped messages on purpose must not cost the whole drain); returns
    /// at once when `want_output` messages reached the headsets and `want_asks` reached GAMA.
    async fn drain_late_messages(&self, want_output: u64, want_asks: u64) {
        let drain_end = Instant::now() + self.drain;
        let quiet = self.drain.min(Duration::from_secs(1));
        let mut last = (self.received(), self.asks.received(), Instant::now());
        while (last.0 < want_output || last.1 < want_asks) && Instant::now() < drain_end {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = (self.received(), self.asks.received());
            if now != (last.0, last.1) {
                last = (now.0, now.1, Instant::now());
            } else if last.2.elapsed() >= quiet {
                break;
            }
        }
    }

    /// Takes what every receiver saw and sums the phase up against what the senders sent.
    fn phase_report(
        &self,
        spec: &PhaseSpec,
        output: &FinishedFlow,
        asks: &FinishedFlow,
        cpu: CpuUse,
    ) -> PhaseReport {
        let n = self.players.len();
        let mut output_acc = Acc::new(n);
        for h in &self.headsets {
            output_acc.merge(&h.take(n));
        }
        let asks_acc = self.asks.take(n);
        let sent = output.sent.iter().chain(asks.sent.iter());
        let (lag, failures) = sent.fold((Lag::default(), 0), |(lag, f), s| {
            (lag.max(s.lag), f + s.send_failures)
        });
        PhaseReport {
            rate_hz: spec.output.map(|(r, _)| r),
            ask_rate_hz: spec.ask_hz,
            seconds: spec.measure,
            output: output.summary(&output_acc),
            asks: asks.summary(&asks_acc),
            relay_cpu_s: cpu.relay_s,
            bench_cpu_s: cpu.bench_s,
            other_cpu_s: cpu.other_s,
            sender_lag: lag,
            send_failures: failures,
            disconnects: self
                .headsets
                .iter()
                .filter(|h| h.observed.is_closed())
                .count(),
        }
    }

    /// Notes on what the headsets saw besides the measured traffic.
    fn notes(&self, phases: &[PhaseReport]) -> Vec<String> {
        let mut notes = Vec::new();
        notes.extend(self.viewers.as_ref().map(crate::screens::Viewers::summary));
        let busy = phases
            .iter()
            .filter_map(|p| Some(p.other_cpu_s? / p.seconds))
            .fold(0.0f64, f64::max);
        if busy > 0.05 {
            notes.push(format!(
                "other processes kept {:.0}% of a CPU busy during the measurement: the numbers are disturbed",
                busy * 100.0
            ));
        }
        let lag = phases
            .iter()
            .map(|p| p.sender_lag)
            .fold(Lag::default(), Lag::max);
        if lag.p99_ms > 1.0 || lag.max_ms > 5.0 {
            notes.push(format!(
                "the senders woke up late (p99 {:.1} ms, max {:.1} ms after the scheduled instant: \
                 CPU contention or timer jitter); that delay is counted in the latencies",
                lag.p99_ms, lag.max_ms
            ));
        }
        let failures: u64 = phases.iter().map(|p| p.send_failures).sum();
        if failures > 0 {
            notes.push(format!(
                "{failures} messages could not be sent (no connection, or a receiver stuck past the drain)"
            ));
        }
        for h in &self.headsets {
            let o = &h.observed;
            if let Some(reason) = o
                .close_reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            {
                notes.push(format!("{} disconnected: {reason}", player_id(h.index)));
            }
        }
        let errors: u64 = self
            .headsets
            .iter()
            .map(|h| h.observed.errors.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        if errors > 0 {
            let last = self
                .headsets
                .iter()
                .find_map(|h| {
                    h.observed
                        .last_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone()
                })
                .unwrap_or_default();
            notes.push(format!(
                "headsets received {errors} error messages, e.g. {last}"
            ));
        }
        if self.asks.unreadable() > 0 {
            notes.push(format!(
                "{} asks arrived without a readable stamp",
                self.asks.unreadable()
            ));
        }
        notes
    }

    /// Ends the session; the relay's memory figures are read before it is stopped.
    fn close(mut self) -> Option<RelayStats> {
        let stats = self.relay.as_mut().map(|relay| {
            let memory = relay.pid.and_then(proc::memory);
            let sampled = self.sampler.as_ref().map(RssSampler::peak_kb);
            let peak = if relay.spawned() {
                memory.map(|m| m.hwm_kb)
            } else {
                sampled.max(memory.map(|m| m.rss_kb))
            };
            RelayStats {
                pid: relay.pid,
                spawned: relay.spawned(),
                idle_rss_mb: self.idle_rss_kb.map(kb_to_mb),
                peak_rss_mb: peak.map(kb_to_mb),
                sampled_peak_rss_mb: sampled.map(kb_to_mb),
                log: relay.log.as_ref().map(|p| p.display().to_string()),
            }
        });
        self.headsets.clear();
        if let Some(direct) = &self.direct {
            direct.stop();
        }
        if let Some(relay) = self.relay.as_mut() {
            relay.stop();
        }
        stats
    }
}

/// Runs `scenario` in `mode`.
pub async fn run(ctx: &Ctx, scenario: &Scenario, mode: Mode) -> anyhow::Result<RunReport> {
    let body = |bytes, init| {
        Body::new(&world(bytes, init))
            .map(Arc::new)
            .context("a generated world is not a JSON object")
    };
    let payloads = match &scenario.output {
        Some(o) => Payloads {
            update: body(o.update_bytes, false)?,
            init: o.init_bytes.map(|b| body(b, true)).transpose()?,
        },
        None => Payloads {
            update: body(200, false)?,
            init: None,
        },
    };
    let mut session = Session::open(ctx, scenario, mode).await?;
    let outcome = run_phases(ctx, scenario, &mut session, &payloads).await;
    let notes = match &outcome {
        Ok((phases, _)) => session.notes(phases),
        Err(_) => session.notes(&[]),
    };
    let mode = session.mode;
    let relay_failed = session.relay.as_mut().and_then(|r| {
        r.exited()
            .map(|why| format!("the relay exited during the run ({why}){}", r.log_tail()))
    });
    let relay = session.close();
    let (phases, ramp) = outcome?;
    let mut notes = notes;
    notes.extend(relay_failed);
    Ok(RunReport {
        scenario: scenario.name,
        mode,
        headsets: scenario.headsets,
        phases,
        ramp,
        relay,
        notes,
    })
}

async fn run_phases(
    ctx: &Ctx,
    scenario: &Scenario,
    session: &mut Session,
    payloads: &Payloads,
) -> anyhow::Result<(Vec<PhaseReport>, Option<RampOutcome>)> {
    let output = scenario.output.as_ref().map(|o| (o.rate_hz, o.fanout));
    let Some(ramp) = &scenario.ramp else {
        let spec = PhaseSpec {
            warmup: ctx.cli.warmup,
            measure: ctx.cli.duration,
            output,
            ask_hz: scenario.ask_hz,
        };
        return Ok((vec![session.run_phase(&spec, payloads).await?], None));
    };
    let Some((mut rate, fanout)) = output else {
        anyhow::bail!("the ramp needs GAMA output");
    };
    let mut steps = Vec::new();
    let mut saturation = None;
    let mut stopped_because = format!("reached --ramp-max-steps ({})", ramp.max_steps);
    for _ in 0..ramp.max_steps {
        let spec = PhaseSpec {
            warmup: ctx.cli.warmup.min(0.5),
            measure: ramp.step_s,
            output: Some((rate, fanout)),
            ask_hz: None,
        };
        let step = session.run_phase(&spec, payloads).await?;
        let Some(flow) = step.output.clone() else {
            anyhow::bail!("a ramp step measured no output");
        };
        let verdict = if step.disconnects > 0 {
            Some(format!("{} headsets disconnected", step.disconnects))
        } else if flow.lost + flow.superseded > 0 {
            Some(format!(
                "{} messages not delivered at {rate:.0} Hz ({} lost, {} superseded)",
                flow.lost + flow.superseded,
                flow.lost,
                flow.superseded
            ))
        } else if flow.p99_ms > ramp.p99_limit_ms {
            Some(format!(
                "p99 {:.1} ms > {} ms at {rate:.0} Hz",
                flow.p99_ms, ramp.p99_limit_ms
            ))
        } else {
            None
        };
        steps.push(step);
        match verdict {
            Some(why) => {
                stopped_because = why;
                break;
            }
            None => {
                saturation = Some(Saturation {
                    rate_hz: rate,
                    msgs_per_s: flow.msgs_per_s,
                    mb_per_s: flow.mb_per_s,
                    p99_ms: flow.p99_ms,
                });
            }
        }
        rate *= ramp.factor;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((
        steps,
        Some(RampOutcome {
            saturation,
            stopped_because,
        }),
    ))
}
