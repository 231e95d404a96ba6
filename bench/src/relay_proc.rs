//! The relay under test: one the tool starts (a fresh gama-vr-relay per scenario, so its peak
//! memory is the scenario's), or one already running that the tool only connects to.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use crate::cli::Cli;
use crate::fake_gama::FakeGama;

/// How long a relay has to start and connect to the fake GAMA.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Which relay is measured.
#[derive(Debug, Clone)]
pub enum RelayTarget {
    /// Start gama-vr-relay for each scenario.
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// Extra arguments.
        args: Vec<String>,
        /// Where its logs go.
        log_dir: PathBuf,
    },
    /// A relay already running, configured to connect to the fake GAMA's port.
    External {
        /// Where headsets connect.
        headset_addr: SocketAddr,
        /// Its process, for CPU and memory.
        pid: Option<u32>,
    },
}

/// The default binary: next to this tool (both are built into the same target folder), else in
/// `target/release` under the working directory.
pub fn default_relay_bin() -> PathBuf {
    let name = format!("gama-vr-relay{}", std::env::consts::EXE_SUFFIX);
    if let Some(sibling) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|p| p.is_file())
    {
        return sibling;
    }
    Path::new("target").join("release").join(name)
}

impl RelayTarget {
    /// From the command line.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<RelayTarget> {
        match cli.headset_port {
            Some(port) => {
                let headset_addr = (cli.relay_host.as_str(), port)
                    .to_socket_addrs()
                    .with_context(|| format!("cannot resolve --relay-host {}", cli.relay_host))?
                    .next()
                    .ok_or_else(|| anyhow!("--relay-host {} has no address", cli.relay_host))?;
                Ok(RelayTarget::External {
                    headset_addr,
                    pid: cli.relay_pid,
                })
            }
            // Absolute: the relay is started in a directory of its own.
            None => Ok(RelayTarget::Spawn {
                bin: std::path::absolute(cli.relay_bin.clone().unwrap_or_else(default_relay_bin))
                    .context("cannot resolve the relay binary's path")?,
                args: cli.relay_args.clone(),
                log_dir: cli.log_dir.clone(),
            }),
        }
    }

    /// More settings for a relay the tool starts; `false` for a relay already running.
    pub fn add_args(&mut self, extra: Vec<String>) -> bool {
        match self {
            RelayTarget::Spawn { args, .. } => {
                args.extend(extra);
                true
            }
            RelayTarget::External { .. } => false,
        }
    }

    /// Checks what can be checked before running anything.
    pub fn check(&self) -> anyhow::Result<()> {
        if let RelayTarget::Spawn { bin, .. } = self {
            if !bin.is_file() {
                bail!(
                    "no relay binary at {}: build it with `cargo build --release -p gama-vr-relay`, \
                     or give --relay-bin, or measure a running relay with --headset-port",
                    bin.display()
                );
            }
        }
        Ok(())
    }

    /// Starts (or finds) the relay and waits until it is connected to `gama`.
    pub async fn start(&self, gama: &FakeGama, label: &str) -> anyhow::Result<RunningRelay> {
        match self {
            RelayTarget::External { headset_addr, pid } => {
                gama.wait_connection(0, false, START_TIMEOUT)
                    .await
                    .context("is the relay configured to connect to --gama-listen-port?")?;
                Ok(RunningRelay {
                    headset_addr: *headset_addr,
                    admin_addr: None,
                    pid: *pid,
                    child: None,
                    log: None,
                })
            }
            RelayTarget::Spawn { bin, args, log_dir } => {
                spawn(bin, args, log_dir, gama, label).await
            }
        }
    }
}

/// A free TCP port on the loopback interface (free when asked; the relay binds it right after).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

async fn spawn(
    bin: &Path,
    args: &[String],
    log_dir: &Path,
    gama: &FakeGama,
    label: &str,
) -> anyhow::Result<RunningRelay> {
    let headset_port = free_port()?;
    let admin_port = free_port()?;
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let log_path = log_dir.join(format!("relay-{label}.log"));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    // An empty working directory: no `.env` and no learning packages are picked up from wherever
    // the tool was started.
    let workdir = std::env::temp_dir().join(format!("relay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir)?;
    let before = gama.serial();
    let gama_port = gama.addr().port().to_string();
    let child = Command::new(bin)
        .args(["--gama-host", "127.0.0.1", "--gama-port", &gama_port])
        .args(["--headset-port", &headset_port.to_string()])
        .args([
            "--admin-host",
            "127.0.0.1",
            "--admin-port",
            &admin_port.to_string(),
        ])
        .args(["--set", "headsets.host=127.0.0.1"])
        // Every other port ephemeral too: another relay may run on this machine.
        .args(["--set", "passthrough.port=0", "--set", "monitor.port=0"])
        .args(args)
        .current_dir(&workdir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let mut relay = RunningRelay {
        headset_addr: SocketAddr::from(([127, 0, 0, 1], headset_port)),
        admin_addr: Some(SocketAddr::from(([127, 0, 0, 1], admin_port))),
        pid: Some(child.id()),
        child: Some(child),
        log: Some(log_path),
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(why) = relay.exited() {
            bail!(
                "the relay stopped during start-up ({why}){}",
                relay.log_tail()
            );
        }
        // Our relay probes GAMA's state right after connecting: once it did, it is ready.
        if gama
            .wait_connection(before, true, Duration::from_millis(100))
            .await
            .is_ok()
        {
            return Ok(relay);
        }
        if Instant::now() >= deadline {
            bail!(
                "the relay did not connect to the fake GAMA within {} s{}",
                START_TIMEOUT.as_secs(),
                relay.log_tail()
            );
        }
    }
}

/// The relay being measured.
#[derive(Debug)]
pub struct RunningRelay {
    /// Where headsets connect.
    pub headset_addr: SocketAddr,
    /// Its admin page and API, when the tool started it.
    pub admin_addr: Option<SocketAddr>,
    /// Its process, if known.
    pub pid: Option<u32>,
    child: Option<Child>,
    /// Its log file, if the tool started it.
    pub log: Option<PathBuf>,
}

impl RunningRelay {
    /// Whether the tool started it.
    pub fn spawned(&self) -> bool {
        self.child.is_some()
    }

    /// Why a started relay has ended, if it has.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// The end of its log, to explain a failure.
    pub fn log_tail(&self) -> String {
        let Some(path) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("; log {}:\n{tail}", path.display())
    }

    /// Stops a relay the tool started.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RunningRelay {
    fn drop(&mut self) {
        self.stop();
    }
}
