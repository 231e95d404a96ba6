//! Measures what a kept session costs, without a classroom: an hour of synthetic classroom
//! traffic (headsets in game, GAMA's world updates at its pace, every headset's moves) is written
//! through the real session writer with simulated time, then opened and sought like the admin
//! page does. Used by `relay-bench`'s `session-size` program; not an API.
//!
//! The worlds are what makes a session big, and how they compress depends on how they change: here
//! every agent moves a little at every step (a random walk), as GAMA's agents do, so consecutive
//! worlds differ the way real ones do.

use std::path::Path;
use std::time::{Duration, Instant};

use super::read;
use super::write::Writer;
use super::{ActKind, Event, Start};
use crate::config::SessionsConfig;
use crate::protocol::Frame;
use crate::protocol::linker::PayloadKind;
use crate::support::queue::{Sender, TrySendError};

/// What the synthetic session is made of.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Simulated minutes.
    pub minutes: u64,
    /// Headsets in game.
    pub headsets: usize,
    /// GAMA's world updates per second (each headset gets its own world).
    pub rate_hz: u64,
    /// Size of one world update.
    pub world_bytes: usize,
    /// Moves per second per headset (`move_player_external` asks).
    pub ask_hz: u64,
    /// World updates kept per second and player.
    pub kept_per_second: f64,
}

/// What it cost.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The session's id.
    pub id: String,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes GAMA sent the headsets (what `--record` would keep, before its own framing).
    pub raw_bytes: u64,
    /// Wall time the writer needed.
    pub write_time: Duration,
    /// Time to open the timeline (what the Sessions panel does).
    pub open_time: Duration,
    /// Time of each seek (to evenly spread moments).
    pub seek_times: Vec<Duration>,
}

/// A world of `agents` agents at `step`: each walks from its own start.
fn world(agents: usize, player: usize, step: u64) -> String {
    let mut out = String::with_capacity(agents * 40 + 200);
    out.push_str("{\"pointsLoc\":[");
    for i in 0..agents {
        if i > 0 {
            out.push(',');
        }
        let seed = (i as u64 + 1) * 2_654_435_761 + player as u64 * 97;
        // A smooth walk: a slow circle plus a little noise that changes every step.
        let phase = (step as f64 / 90.0) + (seed % 628) as f64 / 100.0;
        let noise = ((seed ^ step.wrapping_mul(6_364_136_223_846_793_005)) >> 33) % 200;
        let x = 500_000 + ((seed % 400_000) as f64 * phase.cos()) as i64 + noise as i64;
        let y = 400_000 + ((seed % 300_000) as f64 * phase.sin()) as i64 - noise as i64;
        let heading = ((phase * 572_957.795) as i64).rem_euclid(3_600_000);
        out.push_str(&format!("{{\"c\":[{x},{y},0,{heading}]}}"));
    }
    out.push_str("],\"isInit\":false,\"offsetYGeom\":[],\"names\":[");
    for i in 0..agents {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"agent{i}\""));
    }
    out.push_str("],\"keepNames\":[],\"propertyID\":[");
    for i in 0..agents {
        if i > 0 {
            out.push(',');
        }
        out.push_str(if i % 3 == 0 { "\"car\"" } else { "\"people\"" });
    }
    out.push_str("],\"pointsGeom\":[],\"attributes\":[]}");
    out
}

/// How many agents make a world of about `bytes`.
fn agents_for(bytes: usize) -> usize {
    let (empty, hundred) = (world(0, 0, 0).len(), world(100, 0, 0).len());
    let per_agent = (hundred - empty) as f64 / 100.0;
    ((bytes.saturating_sub(empty)) as f64 / per_agent)
        .round()
        .max(1.0) as usize
}

/// Writes a synthetic session into `folder` and measures it.
pub fn measure(folder: &Path, traffic: &Traffic) -> std::io::Result<Measured> {
    let config = SessionsConfig {
        enabled: true,
        folder_path: folder.to_path_buf(),
        max_total_bytes: u64::MAX,
        max_count: usize::MAX,
        world_updates_per_second: traffic.kept_per_second,
        max_queued_messages: 1 << 16,
    };
    let start = Start {
        model: Some("Synthetic classroom".into()),
        experiment: Some("vr_xp".into()),
    };
    let id = super::write::new_id(folder, &start);
    let base = Instant::now();
    let writer = Writer::create(folder, &id, &start, &config, base)?;
    let (tx, rx) = crate::support::queue::bounded(config.max_queued_messages);
    let began = Instant::now();
    let thread = std::thread::spawn(move || writer.run(rx));
    let raw_bytes = send_traffic(&tx, base, traffic)?;
    drop(tx);
    thread
        .join()
        .map_err(|_| std::io::Error::other("the writer panicked"))?;
    let write_time = began.elapsed();

    let began = Instant::now();
    let session = read::open(folder, &id).map_err(std::io::Error::other)?;
    let timeline = session.timeline().map_err(std::io::Error::other)?;
    let open_time = began.elapsed();
    let seek_times = seek_times(&session, timeline.duration_ms)?;
    Ok(Measured {
        id,
        bytes: session.info.bytes,
        raw_bytes,
        write_time,
        open_time,
        seek_times,
    })
}

/// Sends `traffic` to the writer, in session time from `base` (ms 0), and its end: the players
/// coming in, their worlds at GAMA's rate, their moves, GAMA's pace. Returns the bytes GAMA sent.
fn send_traffic(tx: &Sender<Event>, base: Instant, traffic: &Traffic) -> std::io::Result<u64> {
    let players: Vec<String> = (0..traffic.headsets)
        .map(|i| format!("Player_{}", 101 + i))
        .collect();
    let at = |ms: u64| base + Duration::from_millis(ms);
    send(
        tx,
        Event::Experiment {
            at: at(0),
            state: "RUNNING".into(),
        },
    )?;
    for p in &players {
        send(
            tx,
            Event::Player {
                at: at(0),
                id: p.clone(),
                state: "in_game".into(),
            },
        )?;
    }
    let agents = agents_for(traffic.world_bytes);
    let end_ms = traffic.minutes * 60_000;
    let step_ms = 1000 / traffic.rate_hz.max(1);
    let ask_ms = 1000 / traffic.ask_hz.max(1);
    // A new world only when the writer can keep it (at its rate); the steps between reuse it, as
    // the writer would drop them anyway.
    let fresh_every = ((traffic.rate_hz as f64 / traffic.kept_per_second).floor() as u64).max(1);
    let mut worlds: Vec<Frame> = vec![Frame::from(""); players.len()];
    let mut raw_bytes = 0u64;
    let mut next_ask = 0u64;
    let mut t = 0u64;
    let mut step = 0u64;
    while t < end_ms {
        let fresh = (step % fresh_every == 0).then_some((agents, step));
        raw_bytes += send_worlds(tx, at(t), &players, &mut worlds, fresh)?;
        while next_ask <= t {
            send_moves(tx, at(next_ask), next_ask, &players)?;
            next_ask += ask_ms;
        }
        if t % 1000 == 0 {
            send(
                tx,
                Event::Pace {
                    at: at(t),
                    per_second: traffic.rate_hz as f64,
                },
            )?;
        }
        t += step_ms;
        step += 1;
    }
    send(
        tx,
        Event::End {
            at: at(end_ms),
            until: Instant::now(),
        },
    )?;
    Ok(raw_bytes)
}

/// Each player's world update at `at`: the player's last world again, or with `fresh` (agents,
/// step) a new one. Returns the bytes sent.
fn send_worlds(
    tx: &Sender<Event>,
    at: Instant,
    players: &[String],
    worlds: &mut [Frame],
    fresh: Option<(usize, u64)>,
) -> std::io::Result<u64> {
    let mut bytes = 0u64;
    for (i, p) in players.iter().enumerate() {
        if let Some((agents, step)) = fresh {
            worlds[i] = Frame::from(format!(
                "{{\"contents\":{},\"type\":\"json_output\"}}",
                world(agents, i, step)
            ));
        }
        bytes += worlds[i].len() as u64;
        send(
            tx,
            Event::Out {
                at,
                players: vec![p.clone()],
                frame: worlds[i].clone(),
                kind: PayloadKind::WorldUpdate,
            },
        )?;
    }
    Ok(bytes)
}

/// Every player's move at `at`, session time `ms` (where the players are depends on it).
fn send_moves(tx: &Sender<Event>, at: Instant, ms: u64, players: &[String]) -> std::io::Result<()> {
    for (i, p) in players.iter().enumerate() {
        let x = 100_000 + ((ms / 10) as i64 + i as i64 * 1000) % 800_000;
        let args = format!(
            "\"{{\\\"id\\\":\\\"{p}\\\",\\\"x\\\":\\\"{x}\\\",\\\"y\\\":\\\"200000\\\",\\\"z\\\":\\\"0\\\",\\\"angle\\\":\\\"0\\\"}}\""
        );
        send(
            tx,
            Event::Act {
                at,
                player: p.as_str().into(),
                kind: ActKind::Ask,
                name: "move_player_external".into(),
                args: Some(args),
            },
        )?;
    }
    Ok(())
}

/// One event to the writer. The synthetic traffic outruns any disk: it waits for room instead of
/// being dropped.
fn send(tx: &Sender<Event>, mut e: Event) -> std::io::Result<()> {
    loop {
        match tx.try_send(e) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) => {
                e = back;
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(std::io::Error::other("the session writer stopped"));
            }
        }
    }
}

/// The time of each of ten seeks, to evenly spread moments of a session `duration_ms` long, as
/// the playback seeks.
fn seek_times(session: &read::Session, duration_ms: u64) -> std::io::Result<Vec<Duration>> {
    let mut seek_times = Vec::new();
    for k in 0..10u64 {
        let target = duration_ms * (2 * k + 1) / 20;
        let began = Instant::now();
        let view =
            super::view::view_at(session, "Player_101", target).map_err(std::io::Error::other)?;
        if view.ordered_frames().is_empty() {
            return Err(std::io::Error::other(format!("no world at {target} ms")));
        }
        seek_times.push(began.elapsed());
    }
    Ok(seek_times)
}
