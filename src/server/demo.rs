//! `gama-vr-relay demo`: a session to look at without GAMA. The relay runs as usual, connected to
//! the project's stand-in GAMA (`relay_testkit::FakeGama`, the one the tests use) playing a small
//! built-in SIMPLE scenario — a town whose cars drive round its blocks — and a few simulated
//! headsets (`relay_testkit::Headset`, byte for byte what the Unity client sends) join it, ask for
//! the world and walk around. The admin page shows a live session at once: players in game, the
//! world view moving, the simulation's pace, the console answering `cycle` or
//! `length(unity_player)`. Real headsets can join too. Nothing of it is real: say so to whoever
//! looks at it.

use std::time::Duration;

use relay_testkit::{FakeGama, FakeGamaOptions, Headset, Scene};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::control::packages::Catalog;
use crate::server::{Server, ServerError, ServerHandle};

/// The demo's learning package.
const SETTINGS: &str = r#"{"type":"json_settings","name":"Demo: a small town (no GAMA)","model_file_path":"./demo/town.gaml","experiment_name":"vr_xp","minimal_players":"0","maximal_players":"40"}"#;

/// How often each simulated headset moves.
const MOVE_EVERY: Duration = Duration::from_millis(100);

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The stand-in GAMA could not start.
    #[error("cannot start the demo's stand-in GAMA: {0}")]
    Gama(String),
    /// The relay could not start.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// A running demo: the relay, its stand-in GAMA and its simulated headsets.
pub struct Demo {
    handle: ServerHandle,
    _gama: FakeGama,
    headsets: CancellationToken,
    _sessions: tempfile::TempDir,
}

impl Demo {
    /// Starts the stand-in GAMA, the relay as `config` says (GAMA's address is the stand-in's,
    /// sessions go to a temporary folder), launches the scenario and lets `headsets` simulated
    /// headsets join it.
    pub async fn start(mut config: Config, headsets: usize) -> Result<Demo, DemoError> {
        let gama = FakeGama::start(FakeGamaOptions {
            scene: Scene::Town,
            autorun: true,
            cycle_ms: 100,
            // Any headset that joins sees the town, whether or not it asks for it.
            push_worlds: true,
            ..FakeGamaOptions::desktop()
        })
        .await
        .map_err(|e| DemoError::Gama(e.to_string()))?;
        config.gama.host = "127.0.0.1".into();
        config.gama.port = gama.port();
        config.record.file = Default::default();
        // The demo's sessions are not the classroom's.
        let sessions = tempfile::Builder::new()
            .prefix("gama-vr-relay-demo")
            .tempdir()
            .map_err(|e| DemoError::Gama(e.to_string()))?;
        config.sessions.folder_path = sessions.path().to_path_buf();
        let catalog = Catalog::from_settings(
            SETTINGS,
            &sessions.path().join("settings.json"),
            sessions.path(),
        );
        let handle = Server::bind(config).await?.spawn_with_catalog(catalog);
        info!(
            "demo: a stand-in GAMA plays a small town (this is a demonstration, not a GAMA model); \
             {headsets} simulated headsets join it"
        );
        let stop = CancellationToken::new();
        let operator = handle.app().operator.clone();
        let gama_link = handle.app().gama.clone();
        let mut changes = handle.subscribe();
        let headset_addr =
            std::net::SocketAddr::from(([127, 0, 0, 1], handle.headset_addr().port()));
        let tracker = handle.app().tracker.clone();
        let walkers = tracker.clone();
        let until = stop.clone();
        tracker.spawn(async move {
            // Launch once GAMA answers, then let the headsets in.
            loop {
                let status = gama_link.status();
                if status.mode.is_some() {
                    break;
                }
                tokio::select! {
                    () = until.cancelled() => return,
                    r = changes.changed() => if r.is_err() { return },
                }
            }
            if let Err(e) = operator.launch(true).await {
                warn!(error = %e, "demo: the launch failed");
            }
            for i in 0..headsets {
                let until = until.clone();
                walkers.spawn(walk(headset_addr, format!("Player_{}", 201 + i), i, until));
            }
        });
        Ok(Demo {
            handle,
            _gama: gama,
            headsets: stop,
            _sessions: sessions,
        })
    }

    /// The relay.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Stops the headsets, then the relay; `true` if every task ended within `grace`.
    pub async fn shutdown(self, grace: Duration) -> bool {
        self.headsets.cancel();
        self.handle.shutdown(grace).await
    }
}

/// One simulated headset: joins, asks for the world when in game, then walks round the town.
async fn walk(relay: std::net::SocketAddr, id: String, index: usize, stop: CancellationToken) {
    tokio::select! {
        () = stop.cancelled() => {}
        Err(e) = walking(relay, &id, index) => {
            info!(player = %id, error = %e, "demo headset stopped");
        }
    }
}

async fn walking(relay: std::net::SocketAddr, id: &str, index: usize) -> anyhow::Result<()> {
    let headset = Headset::connect(relay).await?;
    headset.register(id).await?;
    loop {
        let state = headset
            .recv_type("json_state", Duration::from_secs(3600))
            .await?;
        if state["in_game"] == true {
            break;
        }
    }
    headset.ask("send_init_data", &[("id", id)]).await?;
    headset
        .ask("player_ready_to_receive_geometries", &[("id", id)])
        .await?;
    let mut tick = tokio::time::interval(MOVE_EVERY);
    let mut step = 0u64;
    loop {
        tick.tick().await;
        step += 1;
        // A figure of eight through the town, each headset on its own part of it.
        let a = step as f64 / 40.0 + index as f64 * 1.7;
        let x = 500_000.0 + 260_000.0 * a.cos();
        let y = 400_000.0 + 190_000.0 * (2.0 * a).sin() / 1.3;
        let heading = ((a.to_degrees() + 90.0).rem_euclid(360.0) * 10_000.0) as i64;
        let (x, y, heading) = (
            (x as i64).to_string(),
            (y as i64).to_string(),
            heading.to_string(),
        );
        headset
            .ask(
                "move_player_external",
                &[
                    ("id", id),
                    ("x", &x),
                    ("y", &y),
                    ("z", "0"),
                    ("angle", &heading),
                ],
            )
            .await?;
        headset.discard_received().await;
    }
}
