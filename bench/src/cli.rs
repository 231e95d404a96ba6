//! The command line.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use serde::Serialize;

/// Benchmark of SIMPLE relays: plays a fake gama-server (the relay connects to it) and simulated
/// Unity headsets, and measures latency, throughput, losses and the relay's CPU and memory.
///
/// By default every scenario runs twice: through gama-vr-relay (started by the tool from
/// target/release/gama-vr-relay) and `--direct`, the same traffic without any relay, the floor a
/// relay is compared with. Another relay (or one already running) is measured with
/// `--headset-port` and `--gama-listen-port`, plus `--relay-pid` for its CPU and memory.
#[derive(Debug, Clone, Parser, Serialize)]
#[command(version, about, long_about)]
pub struct Cli {
    /// Scenario to run.
    #[arg(long, value_enum, default_value_t = ScenarioName::All)]
    pub scenario: ScenarioName,
    /// Run only the baseline without a relay.
    #[arg(long, conflicts_with = "no_direct")]
    pub direct: bool,
    /// Skip the baseline: measure the relay only.
    #[arg(long)]
    pub no_direct: bool,
    /// Measured seconds of each scenario.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub duration: f64,
    /// Seconds of traffic before measuring (connections, allocators and caches warm up).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub warmup: f64,
    /// Most seconds to wait for late messages after the last one is sent; what has not arrived by
    /// then is lost.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub drain: f64,

    /// Number of headsets (default: the scenario's).
    #[arg(long, value_name = "N")]
    pub headsets: Option<usize>,
    /// GAMA output ticks per second (default: the scenario's, 30).
    #[arg(long, value_name = "HZ")]
    pub rate: Option<f64>,
    /// Asks per second per headset (default: the scenario's, 50).
    #[arg(long, value_name = "HZ")]
    pub ask_rate: Option<f64>,
    /// Size of a world update payload.
    #[arg(long, default_value_t = 20_000, value_name = "BYTES")]
    pub update_bytes: usize,
    /// Size of bigworld's initial world payload.
    #[arg(long, default_value_t = 2_000_000, value_name = "BYTES")]
    pub init_bytes: usize,

    /// Ramp: measured seconds of each step.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub ramp_step: f64,
    /// Ramp: rate multiplier from one step to the next.
    #[arg(long, default_value_t = 1.5, value_name = "FACTOR")]
    pub ramp_factor: f64,
    /// Ramp: most steps.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub ramp_max_steps: usize,
    /// Ramp: a step whose p99 exceeds this (or that does not deliver every message) is past
    /// saturation.
    #[arg(long, default_value_t = 50.0, value_name = "MS")]
    pub ramp_p99_ms: f64,

    /// The gama-vr-relay binary to start (default: next to this tool, else
    /// target/release/gama-vr-relay).
    #[arg(long, value_name = "PATH")]
    pub relay_bin: Option<PathBuf>,
    /// Extra argument for the started relay (repeatable), e.g. `--relay-arg=--set
    /// --relay-arg=log.level=warn`.
    #[arg(long = "relay-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub relay_args: Vec<String>,
    /// Where the started relay's logs go.
    #[arg(long, default_value = "target/relay-bench", value_name = "DIR")]
    pub log_dir: PathBuf,
    /// An already running relay: its headset port (the tool starts none). Needs
    /// `--gama-listen-port`, where that relay connects to GAMA.
    #[arg(long, value_name = "PORT", requires = "gama_listen_port")]
    pub headset_port: Option<u16>,
    /// Host of an already running relay's headset port.
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub relay_host: String,
    /// Port the fake GAMA listens on (default: any free port, given to the started relay).
    #[arg(long, value_name = "PORT")]
    pub gama_listen_port: Option<u16>,
    /// Process id of an already running relay, for its CPU and memory (Linux /proc).
    #[arg(long, value_name = "PID", requires = "headset_port")]
    pub relay_pid: Option<u32>,
    /// Bind each headset to its own source address (127.0.0.2, 127.0.0.3, …), for relays that key
    /// players by IP as the SIMPLE webplatform does.
    #[arg(long)]
    pub source_ips: bool,

    /// Before each run, wait up to this long for the machine to be idle (other processes using
    /// less than 10% of a CPU for 2 s in a row); on a shared machine this keeps a neighbour's burst
    /// out of the numbers. Whatever still disturbed a run is reported in its notes.
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub quiet_wait: f64,

    /// Run a scenario again, up to this many more times, while other processes used more than 5%
    /// of a CPU during its measurement; the least disturbed attempt is kept.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,

    /// Stream this many headset screens through the relay during each run (the project's stand-in
    /// ADB server and headsets, a 1024×576 30 fps picture made by ffmpeg; one viewer each), to see
    /// what mirroring costs the relaying. Relay runs only.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub screens: usize,

    /// One JSON document on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON document to this file (tables on stdout and the data from one run).
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
    /// Exit with status 3 when a target fails.
    #[arg(long)]
    pub strict: bool,
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioName {
    /// Every scenario below, in this order.
    All,
    /// 6 headsets: a 20 KB world each at 30 Hz, 50 asks/s each back to GAMA.
    Classroom,
    /// 100 headsets: one 20 KB payload addressed to all at 30 Hz.
    Fanout,
    /// 6 headsets: a 2 MB initial world to each at once, then 20 KB updates at 30 Hz.
    Bigworld,
    /// 100 headsets × 50 asks/s: headset → GAMA latency.
    Asks,
    /// 6 headsets, classroom worlds at a rising rate until p99 passes the limit or not every
    /// message is delivered: saturation throughput.
    Ramp,
}

impl ScenarioName {
    /// The scenarios `self` stands for.
    pub fn expand(self) -> Vec<ScenarioName> {
        match self {
            Self::All => vec![
                Self::Classroom,
                Self::Fanout,
                Self::Bigworld,
                Self::Asks,
                Self::Ramp,
            ],
            one => vec![one],
        }
    }
}

impl Cli {
    /// Whether the relay is measured.
    pub fn with_relay(&self) -> bool {
        !self.direct
    }

    /// Whether the baseline is measured.
    pub fn with_direct(&self) -> bool {
        !self.no_direct
    }

    /// Refuses settings that cannot give a meaningful run.
    pub fn validate(&self) -> anyhow::Result<()> {
        let positive = [
            ("--duration", self.duration),
            ("--ramp-step", self.ramp_step),
            ("--rate", self.rate.unwrap_or(1.0)),
            ("--ask-rate", self.ask_rate.unwrap_or(1.0)),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                anyhow::bail!("{name} must be a positive number (got {v})");
            }
        }
        for (name, v) in [
            ("--warmup", self.warmup),
            ("--drain", self.drain),
            ("--quiet-wait", self.quiet_wait),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                anyhow::bail!("{name} must be zero or more (got {v})");
            }
        }
        if !(self.ramp_factor.is_finite() && self.ramp_factor > 1.0) {
            anyhow::bail!("--ramp-factor must be above 1");
        }
        if self.headsets == Some(0) {
            anyhow::bail!("--headsets must be at least 1");
        }
        if self.update_bytes < 200 || self.init_bytes < 200 {
            anyhow::bail!("--update-bytes and --init-bytes must be at least 200");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_parses_and_validates() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["relay-bench", "--scenario", "fanout", "--direct"]).unwrap();
        assert_eq!(cli.scenario.expand(), vec![ScenarioName::Fanout]);
        assert!(!cli.with_relay() && cli.with_direct());
        cli.validate().unwrap();
        assert_eq!(ScenarioName::All.expand().len(), 5);
        let bad = Cli::try_parse_from(["relay-bench", "--duration", "0"]).unwrap();
        assert!(bad.validate().is_err());
        assert!(Cli::try_parse_from(["relay-bench", "--direct", "--no-direct"]).is_err());
        assert!(Cli::try_parse_from(["relay-bench", "--headset-port", "8080"]).is_err());
        let ext = Cli::try_parse_from([
            "relay-bench",
            "--headset-port",
            "8080",
            "--gama-listen-port",
            "1000",
            "--relay-arg=--set",
        ])
        .unwrap();
        assert_eq!(ext.relay_args, vec!["--set"]);
    }
}
