//! `fake-gama`: a standalone fake gama-server, to try the relay by hand without GAMA.
//!
//! ```text
//! fake-gama [--host 127.0.0.1] [--port 6868] [--mode desktop|headless] [--content string|object] [--cycle-ms 100]
//! ```
//!
//! Runs until Ctrl-C, then closes every connection cleanly (code 1000) like a GAMA quit.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use relay_testkit::{ContentShape, FakeGama, FakeGamaOptions, ServerMode};
use tracing_subscriber::EnvFilter;

/// Command line of `fake-gama`.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "A fake gama-server (desktop or headless mode) with a SIMPLE unity_linker"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 6868)]
    port: u16,
    /// Which gama-server to imitate.
    #[arg(long, value_enum, default_value_t = Mode::Desktop)]
    mode: Mode,
    /// Encoding of the linker's SimulationOutput content.
    #[arg(long, value_enum, default_value_t = Content::String)]
    content: Content,
    /// Period of a simulation cycle of a running experiment, in milliseconds.
    #[arg(long, default_value_t = 100)]
    cycle_ms: u64,
    /// Experiments start RUNNING instead of PAUSED.
    #[arg(long)]
    autorun: bool,
    /// The linker's max_num_players (unlimited if absent).
    #[arg(long)]
    max_players: Option<usize>,
    /// The linker's min_num_players.
    #[arg(long, default_value_t = 0)]
    min_players: usize,
    /// Desktop mode: milliseconds between the `load` answer and the experiment being ready.
    #[arg(long, default_value_t = 5)]
    open_delay_ms: u64,
    /// Milliseconds one cycle of a `step` command takes (a `sync` step is answered after it).
    #[arg(long, default_value_t = 0)]
    step_ms: u64,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// The GAMA desktop application's server (SIMPLE's port 1000).
    Desktop,
    /// gama-headless -socket N.
    Headless,
}

/// `--content`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Content {
    /// Linker JSON as a JSON string, like real GAMA.
    String,
    /// Linker JSON embedded as an object.
    Object,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-gama: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let bind: SocketAddr = tokio::net::lookup_host((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot resolve {}", args.host))?
        .next()
        .with_context(|| format!("{} resolves to no address", args.host))?;
    let (mode, mode_name) = match args.mode {
        Mode::Desktop => (ServerMode::Desktop, "desktop"),
        Mode::Headless => (ServerMode::Headless, "headless"),
    };
    let opts = FakeGamaOptions {
        mode,
        content_shape: match args.content {
            Content::String => ContentShape::String,
            Content::Object => ContentShape::Object,
        },
        cycle_ms: args.cycle_ms,
        autorun: args.autorun,
        max_players: args.max_players,
        min_players: args.min_players,
        open_delay: std::time::Duration::from_millis(args.open_delay_ms),
        step_ms: args.step_ms,
        bind,
        ..FakeGamaOptions::default()
    };
    let gama = FakeGama::start(opts).await?;
    println!(
        "fake-gama listening on ws://{} ({mode_name} mode)",
        gama.addr()
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    tracing::info!("Ctrl-C: closing every connection");
    gama.shutdown_clean().await;
    Ok(())
}
