//! `session-size`: what a session kept for debriefing costs with gama-vr-relay's defaults.
//!
//! ```text
//! session-size [--minutes 60] [--headsets 6] [--rate 30] [--world-bytes 20000] [--ask-rate 50]
//!              [--kept-per-second 5] [--folder DIR]
//! ```
//!
//! Writes a synthetic classroom session (simulated time, so an hour takes a minute or two) through
//! the relay's own session writer, then opens its timeline and seeks ten times, as the admin page
//! does, and prints the size per minute, the projection for an hour and the times.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gama_vr_relay::bench_support::{Traffic, measure};

/// Measures a kept session of synthetic classroom traffic.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Simulated minutes.
    #[arg(long, default_value_t = 60)]
    minutes: u64,
    /// Headsets in game.
    #[arg(long, default_value_t = 6)]
    headsets: usize,
    /// GAMA's world updates per second, to each headset.
    #[arg(long, default_value_t = 30)]
    rate: u64,
    /// Size of one world update.
    #[arg(long, default_value_t = 20_000)]
    world_bytes: usize,
    /// Moves per second and headset.
    #[arg(long, default_value_t = 50)]
    ask_rate: u64,
    /// World updates kept per second and player (sessions.world_updates_per_second).
    #[arg(long, default_value_t = 5.0)]
    kept_per_second: f64,
    /// Where to write the session (default: a temporary folder, removed after).
    #[arg(long)]
    folder: Option<std::path::PathBuf>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = tempfile_dir()?;
    let folder = args.folder.clone().unwrap_or_else(|| temp.clone());
    std::fs::create_dir_all(&folder).context("cannot create the folder")?;
    let traffic = Traffic {
        minutes: args.minutes,
        headsets: args.headsets,
        rate_hz: args.rate,
        world_bytes: args.world_bytes,
        ask_hz: args.ask_rate,
        kept_per_second: args.kept_per_second,
    };
    let m = measure(&folder, &traffic).context("writing the session")?;
    let minutes = args.minutes.max(1) as f64;
    let mut seeks: Vec<f64> = m.seek_times.iter().map(|d| ms(*d)).collect();
    seeks.sort_by(f64::total_cmp);
    println!(
        "session {}: {} headsets, {} world updates/s of {} B each, {} moves/s each, {} minutes simulated",
        m.id, args.headsets, args.rate, args.world_bytes, args.ask_rate, args.minutes
    );
    println!(
        "GAMA sent the headsets {:.1} MB/min; the kept session takes {:.2} MB/min ({:.1} MB for an hour), ×{:.0} smaller",
        m.raw_bytes as f64 / minutes / 1e6,
        m.bytes as f64 / minutes / 1e6,
        m.bytes as f64 / minutes * 60.0 / 1e6,
        m.raw_bytes as f64 / m.bytes.max(1) as f64
    );
    println!(
        "writing took {:.1} s of wall time ({:.0} ms per simulated minute)",
        m.write_time.as_secs_f64(),
        ms(m.write_time) / minutes
    );
    println!(
        "opening its timeline: {:.1} ms; seeking (10 moments): median {:.1} ms, max {:.1} ms",
        ms(m.open_time),
        seeks[seeks.len() / 2],
        seeks[seeks.len() - 1]
    );
    if args.folder.is_none() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("session-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
