//! Serving a recording ([`crate::history::record`]) to headsets without GAMA: to demonstrate a session, or
//! to reproduce a bug.
//!
//! `gama-vr-relay replay FILE` starts the relay as usual, but connected to a stand-in gama-server
//! on loopback that plays the recorded GAMA messages (statuses, linker output, errors) at their
//! recorded pace (or faster). The relay runs its ordinary code: headsets that connect with the
//! recorded ids are added to the game when the recorded experiment becomes live and receive the
//! same `json_output` frames in the same order. Replies to the recorded relay's commands are left
//! out (the stand-in answers the new relay's commands itself); the headsets' recorded messages
//! are not replayed (new headsets send their own).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::admin::App;
use crate::protocol::Frame;
use crate::protocol::command::Command;
use crate::protocol::gama::{Envelope, MessageType};
use crate::server::ServerHandle;
use crate::server::listen::{self, Listener};

/// Why a recording cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file cannot be read.
    #[error("cannot read the recording {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is not a recording.
    #[error("{path} is not a gama-vr-relay recording: {why}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// The GAMA side of a recording, ready to be played.
#[derive(Debug, Clone)]
pub struct Recording {
    /// GAMA's messages to play, with their time since the recording started.
    pub messages: Vec<(Duration, Frame)>,
    /// The players that registered during the recording, in order of appearance.
    pub players: Vec<String>,
}

#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Deserialize)]
struct Line<'a> {
    t: u64,
    #[serde(borrow, default)]
    gama: Option<&'a RawValue>,
    #[serde(default)]
    gama_text: Option<String>,
    #[serde(borrow, default)]
    headset: Option<&'a RawValue>,
    #[serde(default)]
    player: Option<String>,
}

impl Recording {
    /// Reads a recording file.
    pub fn read(path: &Path) -> Result<Recording, ReplayError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ReplayError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Recording::parse(&text).map_err(|why| ReplayError::Format {
            path: path.to_path_buf(),
            why,
        })
    }

    /// Parses the text of a recording.
    pub fn parse(text: &str) -> Result<Recording, String> {
        let mut lines = text.lines().enumerate();
        let header: Header = lines
            .next()
            .and_then(|(_, l)| serde_json::from_str(l).ok())
            .ok_or("the first line is not a recording header")?;
        if header.format != crate::history::record::FORMAT
            || header.version != crate::history::record::VERSION
        {
            return Err(format!(
                "format {:?} version {} (this relay reads {:?} version {})",
                header.format,
                header.version,
                crate::history::record::FORMAT,
                crate::history::record::VERSION
            ));
        }
        let mut messages = Vec::new();
        let mut players = Vec::new();
        let mut seen = BTreeSet::new();
        for (n, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let line: Line<'_> = match serde_json::from_str(line) {
                Ok(l) => l,
                // A recording cut short (the relay was killed) ends with a partial line.
                Err(e) => {
                    warn!(line = n + 1, error = %e, "unreadable line in the recording; skipped");
                    continue;
                }
            };
            let at = Duration::from_micros(line.t);
            if let Some(raw) = line.gama {
                let text = raw.get();
                let Ok(envelope) = Envelope::parse(text) else {
                    continue;
                };
                // Replies answered the recorded relay's commands; the stand-in answers the new one.
                if envelope.command.is_some()
                    || envelope.message_type() == MessageType::ConnectionSuccessful
                {
                    continue;
                }
                messages.push((at, Frame::from(text.to_string())));
            } else if let Some(text) = line.gama_text {
                messages.push((at, Frame::from(text)));
            } else if let Some(raw) = line.headset {
                // The player is known once registered; its `connection` message names it first.
                #[derive(Deserialize)]
                struct Connection {
                    #[serde(rename = "type")]
                    kind: String,
                    id: Option<String>,
                }
                let named = line.player.or_else(|| {
                    serde_json::from_str::<Connection>(raw.get())
                        .ok()
                        .filter(|c| c.kind == "connection")
                        .and_then(|c| c.id)
                });
                if let Some(p) = named {
                    if seen.insert(p.clone()) {
                        players.push(p);
                    }
                }
            }
        }
        Ok(Recording { messages, players })
    }
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// 1.0 plays at the recorded pace, 2.0 twice as fast.
    pub speed: f64,
    /// Start once this many players are connected (default: as many as were recorded).
    pub players: Option<usize>,
}

/// How long the end of a replay may take to reach the headsets before it is declared finished
/// anyway (and said so).
const DELIVERY_DEADLINE: Duration = Duration::from_secs(30);

/// A stand-in gama-server bound on loopback, not yet playing.
pub struct ReplayGama {
    listener: TcpListener,
}

impl ReplayGama {
    /// Binds 127.0.0.1 on a free port; point the relay's `gama.port` at [`ReplayGama::addr`].
    pub async fn bind() -> std::io::Result<ReplayGama> {
        Ok(ReplayGama {
            listener: TcpListener::bind("127.0.0.1:0").await?,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `relay` and plays `recording` once enough players are connected. The returned
    /// receiver turns `true` when the whole recording was played and delivered to the headsets
    /// connected then.
    pub fn spawn(
        self,
        recording: Recording,
        options: ReplayOptions,
        relay: &ServerHandle,
    ) -> watch::Receiver<bool> {
        let app = relay.app();
        let (shutdown, tracker) = (app.shutdown.clone(), app.tracker.clone());
        let (done_tx, done_rx) = watch::channel(false);
        // The stream goes to the most recent connection, as GAMA's desktop server does.
        let (current_tx, current_rx) = watch::channel::<Option<mpsc::Sender<Frame>>>(None);
        let sockets = AtomicU64::new(0);
        let listener = Listener {
            socket: self.listener,
            what: "replay stand-in",
            per_second: None,
        };
        let (shutdown2, tracker2) = (shutdown.clone(), tracker.clone());
        listen::spawn(listener, shutdown.clone(), &tracker, move |stream, _| {
            let socket = sockets.fetch_add(1, Ordering::Relaxed) + 1;
            let (tx, rx) = mpsc::channel(1024);
            current_tx.send_replace(Some(tx.clone()));
            tracker2.spawn(serve(stream, socket, tx, rx, shutdown2.clone()));
        });
        tracker.spawn(play(
            recording,
            options,
            app.clone(),
            current_rx,
            done_tx,
            shutdown,
        ));
        done_rx
    }
}

/// One connection of the relay to the stand-in: greeted, its commands answered, the recording's
/// messages written as they come.
async fn serve(
    stream: tokio::net::TcpStream,
    socket: u64,
    tx: mpsc::Sender<Frame>,
    mut rx: mpsc::Receiver<Frame>,
    shutdown: CancellationToken,
) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let _ = tx
        .send(Frame::from(format!(
            r#"{{"type":"ConnectionSuccessful","content":"{socket}"}}"#
        )))
        .await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            out = rx.recv() => match out {
                Some(frame) => if sink.send(Message::Text(frame)).await.is_err() { break },
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let _ = tx.send(answer(text.as_str())).await;
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
}

/// What GAMA's desktop server would answer, minus the simulation: the state probe finds no
/// experiment (the recorded statuses bring it), everything else succeeds.
fn answer(command: &str) -> Frame {
    #[derive(Deserialize)]
    struct Cmd {
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        exp_id: Option<serde_json::Value>,
    }
    let cmd: Option<Cmd> = serde_json::from_str(command).ok();
    let (kind, content) = match cmd {
        Some(Cmd { kind, exp_id: None }) if kind == "expression" => (
            "UnableToExecuteRequest",
            "\"Unable to find the experiment or simulation\"",
        ),
        Some(Cmd { kind, .. }) if kind == "expression" => {
            ("CommandExecutedSuccessfully", "\"null\"")
        }
        _ => ("CommandExecutedSuccessfully", "\"\""),
    };
    let echo = if command.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(command).is_ok()
    {
        command.trim()
    } else {
        "{}"
    };
    Frame::from(format!(
        r#"{{"type":"{kind}","content":{content},"command":{echo}}}"#
    ))
}

async fn play(
    recording: Recording,
    options: ReplayOptions,
    app: App,
    mut current: watch::Receiver<Option<mpsc::Sender<Frame>>>,
    done: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let wanted = options.players.unwrap_or(recording.players.len());
    info!(
        messages = recording.messages.len(),
        recorded_players = ?recording.players,
        "replay waits for {wanted} players to connect"
    );
    let mut changes = app.changes.subscribe();
    loop {
        if app.players.connected_count() >= wanted {
            break;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
        }
    }
    // And for the relay to be connected to the stand-in.
    let sender = loop {
        if let Some(tx) = current.borrow_and_update().clone() {
            break tx;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            r = current.changed() => if r.is_err() { return },
        }
    };
    info!(speed = options.speed, "replaying");
    let speed = if options.speed.is_finite() && options.speed > 0.0 {
        options.speed
    } else {
        1.0
    };
    let origin = recording.messages.first().map_or(Duration::ZERO, |m| m.0);
    let started = tokio::time::Instant::now();
    let mut sender = sender;
    for (at, frame) in recording.messages {
        let due = started + at.saturating_sub(origin).div_f64(speed);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(due) => {}
        }
        if let Some(tx) = current.borrow_and_update().clone() {
            sender = tx;
        }
        if sender.send(frame).await.is_err() {
            warn!("the relay's connection to the replay closed; the rest is sent to its next one");
        }
    }
    tokio::select! {
        () = shutdown.cancelled() => return,
        delivered = tokio::time::timeout(DELIVERY_DEADLINE, delivered(&app)) => match delivered {
            Ok(Ok(())) => info!("replay finished: every message was delivered"),
            Ok(Err(e)) => warn!(error = %e, "replay finished; whether the last messages reached the relay is unknown"),
            Err(_) => warn!(
                "replay finished, but the headsets had not received everything after {} s",
                DELIVERY_DEADLINE.as_secs()
            ),
        },
    }
    done.send_replace(true);
}

/// Resolves once everything the stand-in sent has reached the headsets. The stand-in answers the
/// relay's commands in order with the recording's messages, so an answer to a command sent now
/// means the relay has read (and queued for the headsets) every message before it; then every
/// headset's queue must be written out.
async fn delivered(app: &App) -> Result<(), crate::gama::GamaError> {
    let gama = &app.gama;
    let exp_id = gama.exp_id().unwrap_or_else(|_| "0".to_string());
    gama.request(
        Command::expression(Some(&exp_id), "cycle"),
        app.config.gama.command_timeout(),
    )
    .await?;
    for conn in app.players.routes().conns() {
        // A headset that is leaving will not take the rest.
        tokio::select! {
            () = conn.flushed() => {}
            () = conn.closed() => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gama_messages_and_players_and_leaves_replies_out() {
        let text = concat!(
            r#"{"format":"gama-vr-relay recording","version":1,"started":"2026-11-21T10:00:00Z"}"#,
            "\n",
            r#"{"t":5,"gama":{"type":"ConnectionSuccessful","content":"1"}}"#,
            "\n",
            r#"{"t":10,"headset":{"type":"connection","id":"A","heartbeat":"5000"},"conn":1,"player":null}"#,
            "\n",
            r#"{"t":11,"headset":{"type":"pong"},"conn":1,"player":"A"}"#,
            "\n",
            r#"{"t":20,"gama":{"type":"SimulationStatus","content":"PAUSED","exp_id":"0"}}"#,
            "\n",
            r#"{"t":30,"gama":{"type":"CommandExecutedSuccessfully","content":"","command":{"type":"play"}}}"#,
            "\n",
            r#"{"t":40,"gama_text":"not json"}"#,
            "\n",
            r#"{"t":50,"gama":{"type":"SimulationOut"#,
        );
        let r = Recording::parse(text).unwrap();
        assert_eq!(r.players, ["A"]);
        let times: Vec<u64> = r.messages.iter().map(|m| m.0.as_micros() as u64).collect();
        assert_eq!(times, [20, 40]);
        assert!(Recording::parse("{\"format\":\"other\",\"version\":1}").is_err());
    }

    #[test]
    fn the_stand_in_answers_like_a_desktop_server_without_experiment() {
        let probe = answer(r#"{"type":"expression","expr":"cycle","relay_seq":"1"}"#);
        assert!(
            probe
                .as_str()
                .starts_with(r#"{"type":"UnableToExecuteRequest""#)
        );
        assert!(
            probe
                .as_str()
                .ends_with(r#""command":{"type":"expression","expr":"cycle","relay_seq":"1"}}"#)
        );
        let create =
            answer(r#"{"type":"expression","exp_id":"0","expr":"do create_player(\"A\");"}"#);
        assert!(
            create
                .as_str()
                .starts_with(r#"{"type":"CommandExecutedSuccessfully","content":"null""#)
        );
        assert!(answer("{bad").as_str().ends_with(r#""command":{}}"#));
    }
}
