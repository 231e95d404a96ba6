//! `relay-bench`: the benchmark of SIMPLE relays. It plays both ends of a relay, a fake
//! gama-server and simulated Unity headsets, in one process with one clock, and measures latency
//! (HDR histograms), throughput, losses and the relay's CPU and memory. `--direct` runs the same
//! traffic without a relay: the floor a relay is compared with. See BENCHMARKS.md.
//!
//! Modules, one concern each:
//!
//! * [`cli`]: the command line;
//! * [`payload`]: SIMPLE payloads, frames and stamps (pure);
//! * [`stats`]: histograms, losses, summaries (pure);
//! * [`measure`]: the shared clock, measurement windows, the receiving end of asks;
//! * [`traffic`]: the senders, on their own threads for sub-millisecond scheduling;
//! * [`fake_gama`], [`direct`], [`headsets`], [`ws`]: the endpoints;
//! * [`relay_proc`]: starting or finding the relay; [`proc`]: its CPU and memory from /proc;
//! * [`screens`]: headset screens streamed through the relay meanwhile (`--screens`);
//! * [`scenarios`]: the scenarios and how one runs; [`report`]: tables, JSON and targets.

// As in the relay: a measuring instrument must report failures, not crash on them.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cli;
mod direct;
mod fake_gama;
mod headsets;
mod measure;
mod payload;
mod proc;
mod relay_proc;
mod report;
mod scenarios;
mod screens;
mod stats;
mod traffic;
mod ws;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use crate::cli::Cli;
use crate::fake_gama::FakeGama;
use crate::proc::Machine;
use crate::relay_proc::RelayTarget;
use crate::report::{Document, Verdict};
use crate::scenarios::{Ctx, Mode, RunReport, Scenario};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.validate() {
        eprintln!("relay-bench: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relay-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // On Ctrl-C or SIGTERM the run is dropped, which stops the relay it started.
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = run(cli) => r,
            () = interrupted() => {
                eprintln!("relay-bench: interrupted");
                Ok(ExitCode::from(130))
            }
        }
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("relay-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The whole invocation: set up the relay, the screens and the fake GAMA, run every scenario in
/// every mode, report.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    measure::epoch();
    let mut relay = RelayTarget::from_cli(&cli)?;
    if cli.with_relay() {
        relay.check()?;
    }
    let screens = start_screens(&cli, &mut relay).await?;
    let gama = FakeGama::start(SocketAddr::from((
        [127, 0, 0, 1],
        cli.gama_listen_port.unwrap_or(0),
    )))
    .await?;
    let ctx = Ctx {
        cli: cli.clone(),
        gama,
        relay,
        screens,
    };
    let (runs, errors) = run_scenarios(&ctx, &modes(&cli)).await;
    let doc = document(&cli, runs, errors);
    publish(&cli, &doc)?;
    Ok(exit_code(&cli, &doc))
}

/// With `--screens` and a relay, starts the stand-in screens and gives the relay their arguments.
async fn start_screens(
    cli: &Cli,
    relay: &mut RelayTarget,
) -> anyhow::Result<Option<std::sync::Arc<screens::Screens>>> {
    if cli.screens == 0 || !cli.with_relay() {
        return Ok(None);
    }
    let screens = screens::Screens::start(cli.screens).await?;
    if !relay.add_args(screens.relay_args()) {
        anyhow::bail!("--screens needs a relay the tool starts (not --headset-port)");
    }
    Ok(Some(std::sync::Arc::new(screens)))
}

/// The modes to run each scenario in: through the relay, then without one, as asked.
fn modes(cli: &Cli) -> Vec<Mode> {
    let mut modes = Vec::new();
    if cli.with_relay() {
        modes.push(Mode::Relay);
    }
    if cli.with_direct() {
        modes.push(Mode::Direct);
    }
    modes
}

/// Runs every scenario asked for in every mode, in order: the reports of those that completed, and
/// the errors of those that could not.
async fn run_scenarios(ctx: &Ctx, modes: &[Mode]) -> (Vec<RunReport>, Vec<String>) {
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    for name in ctx.cli.scenario.expand() {
        let scenario = Scenario::new(name, &ctx.cli);
        for &mode in modes {
            eprintln!(
                "relay-bench: {} through {} ({} headsets)…",
                scenario.name,
                if mode == Mode::Relay {
                    "the relay"
                } else {
                    "no relay (--direct)"
                },
                scenario.headsets
            );
            match run_least_disturbed(ctx, &scenario, mode).await {
                Ok(report) => {
                    eprintln!("relay-bench:   {}", one_line(&report));
                    runs.push(report);
                }
                Err(e) => {
                    eprintln!("relay-bench:   failed: {e:#}");
                    errors.push(format!("{} {}: {e:#}", scenario.name, mode.name()));
                }
            }
        }
    }
    (runs, errors)
}

/// The invocation's document: the machine, the settings, the runs and, with a relay, the targets.
fn document(cli: &Cli, runs: Vec<RunReport>, errors: Vec<String>) -> Document {
    let targets = if cli.with_relay() {
        report::targets(&runs)
    } else {
        Vec::new()
    };
    Document {
        tool: format!("relay-bench {}", env!("CARGO_PKG_VERSION")),
        machine: Machine::detect(),
        settings: cli.clone(),
        runs,
        targets,
        errors,
    }
}

/// Writes the JSON document to `--json-out` if asked, and prints it (`--json`) or the tables.
fn publish(cli: &Cli, doc: &Document) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(doc)?;
    if let Some(path) = &cli.json_out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if cli.json {
        println!("{json}");
    } else {
        print!("{}", report::human(doc));
    }
    Ok(())
}

/// Failure if a run could not be completed; 3 if a target failed under `--strict`; else success.
fn exit_code(cli: &Cli, doc: &Document) -> ExitCode {
    let failed = doc.targets.iter().any(|t| t.verdict == Verdict::Fail);
    if !doc.errors.is_empty() {
        ExitCode::FAILURE
    } else if cli.strict && failed {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// Runs `scenario` in `mode`, again (up to `--retries` more times) while other processes disturbed
/// it, and keeps the least disturbed attempt; the attempts are told in its notes.
async fn run_least_disturbed(
    ctx: &Ctx,
    scenario: &Scenario,
    mode: Mode,
) -> anyhow::Result<RunReport> {
    let cli = &ctx.cli;
    let mut best: Option<(f64, RunReport)> = None;
    let mut disturbances = Vec::new();
    for attempt in 0..=cli.retries {
        if cli.quiet_wait > 0.0 {
            wait_until_quiet(Duration::from_secs_f64(cli.quiet_wait)).await;
        }
        let report = scenarios::run(ctx, scenario, mode).await?;
        let disturbed = report.disturbance();
        disturbances.push(format!("{:.0}%", disturbed * 100.0));
        if best.as_ref().is_none_or(|(d, _)| disturbed < *d) {
            best = Some((disturbed, report));
        }
        if disturbed <= DISTURBED {
            break;
        }
        if attempt < cli.retries {
            eprintln!(
                "relay-bench:   other processes used {:.0}% of a CPU meanwhile; running it again",
                disturbed * 100.0
            );
        }
    }
    let (_, mut report) = best.ok_or_else(|| anyhow::anyhow!("no attempt"))?;
    if disturbances.len() > 1 {
        report.notes.push(format!(
            "kept the least disturbed of {} attempts (other processes' CPU: {})",
            disturbances.len(),
            disturbances.join(", ")
        ));
    }
    Ok(report)
}

/// Other processes' CPU, in CPUs, above which a run counts as disturbed.
const DISTURBED: f64 = 0.05;

/// Waits until the machine has been idle for 2 s (this tool is idle between runs), at most `max`.
async fn wait_until_quiet(max: Duration) {
    let deadline = Instant::now() + max;
    let mut quiet_since: Option<Instant> = None;
    let mut last = proc::machine_busy_seconds();
    let mut announced = false;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = proc::machine_busy_seconds();
        let busy = now.zip(last).map_or(0.0, |(n, l)| (n - l) / 0.25);
        last = now;
        if busy < 0.1 {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(2) {
                return;
            }
        } else {
            quiet_since = None;
            if !announced {
                eprintln!("relay-bench:   waiting for the machine to be idle (--quiet-wait)…");
                announced = true;
            }
        }
    }
    eprintln!("relay-bench:   the machine stayed busy; running anyway");
}

/// Progress line after each run.
fn one_line(report: &RunReport) -> String {
    let Some(phase) = report.headline() else {
        return "no step within the limits".into();
    };
    let mut parts = Vec::new();
    for (name, flow) in [("output", &phase.output), ("asks", &phase.asks)] {
        if let Some(f) = flow {
            parts.push(format!(
                "{name} p99 {:.3} ms, {}/{} received",
                f.p99_ms, f.received, f.expected
            ));
        }
    }
    parts.join("; ")
}
