//! A client of the webplatform's monitor socket that behaves like the SIMPLE Unity plugin's editor
//! tool (`Editor/GamaEditorMiddlewareOrchestrator.cs`): the program a Unity developer uses to have
//! the middleware select the model of their scene and start it in GAMA.
//!
//! What it reproduces, because a relay must survive it:
//!
//! * each step opens its own connection (.NET `ClientWebSocket`) and a receive loop whose every
//!   receive is cancelled after [`RECEIVE_SLICE`] (2 s): in .NET a cancelled receive aborts the
//!   socket, and ping frames do not complete a receive, so **a connection that gets no data frame
//!   for 2 s is dead** ([`Connection::died`] says when and after how long a silence);
//! * its waits and limits: 300 ms (200 ms for a diagnosis or a pause) before the first message,
//!   20 s for the catalog, 15 s per model's settings, 10 s after `send_simulation`, 120 s for the
//!   launch (polled every 200 ms), 60 s for the resume;
//! * how it reads messages: a JSON string is parsed once more, a list is the catalog, an object with
//!   a `gama` object updates the last known state (`gama.connected` must be a boolean, or the loop
//!   dies), anything else goes to an inbox that answers are taken from in arrival order;
//! * how it picks the catalog entry of a scene (experiment name, then the model file: exact path,
//!   path suffix or file name; ties are ambiguous) and enriches the list with one
//!   `get_simulation_by_index` per model;
//! * how it ends: a close frame `1000 "orch done"` when the socket is still open, no close frame
//!   (an abort) when it is not or when a step failed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long one receive waits for a data frame before .NET aborts the socket.
pub const RECEIVE_SLICE: Duration = Duration::from_secs(2);

/// The editor tool's limits (OR = the orchestrator's source).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const CATALOG_TIMEOUT: Duration = Duration::from_secs(20);
const ENRICH_TIMEOUT: Duration = Duration::from_secs(15);
const SELECT_TIMEOUT: Duration = Duration::from_secs(10);
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(120);
const RESUME_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);
const INBOX_POLL: Duration = Duration::from_millis(50);

/// What the receive loop has seen.
#[derive(Debug, Default)]
struct Seen {
    inbox: VecDeque<Value>,
    catalog: Option<Value>,
    gama_connected: Option<bool>,
    experiment_state: String,
    experiment_id: String,
    /// Why the loop stopped, if it did.
    died: Option<String>,
    /// The longest time between two data frames so far.
    longest_silence: Duration,
    frames: usize,
}

/// One connection to the monitor socket, as the editor tool holds it.
pub struct Connection {
    tx: mpsc::UnboundedSender<Message>,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Connects (within the tool's 15 s) and starts the receive loop.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let url = format!("ws://{addr}/");
        let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .context("monitor: connect timed out")??;
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::select! {
                    out = rx.recv() => match out {
                        Some(m) => {
                            let close = matches!(m, Message::Close(_));
                            if sink.send(m).await.is_err() || close {
                                // After a close frame the tool waits (≤ 2 s) for the server's.
                                let _ = tokio::time::timeout(RECEIVE_SLICE, async {
                                    while let Some(Ok(m)) = stream.next().await {
                                        if matches!(m, Message::Close(_)) { break }
                                    }
                                }).await;
                                return;
                            }
                        }
                        None => return,
                    },
                    frame = tokio::time::timeout_at(last + RECEIVE_SLICE, next_data(&mut stream)) => {
                        let mut seen = seen2.lock().unwrap();
                        match frame {
                            Err(_) => {
                                seen.died = Some(format!("no data frame for {RECEIVE_SLICE:?}: .NET aborts the socket"));
                                return;
                            }
                            Ok(None) => {
                                seen.died = Some("the server closed the connection".into());
                                return;
                            }
                            Ok(Some(text)) => {
                                let gap = last.elapsed();
                                seen.longest_silence = seen.longest_silence.max(gap);
                                seen.frames += 1;
                                last = Instant::now();
                                if let Err(why) = read(&mut seen, &text) {
                                    seen.died = Some(why);
                                    return;
                                }
                            }
                        }
                    }
                }
            }
        });
        Ok(Connection { tx, seen, task })
    }

    /// Sends a JSON message (as text).
    pub fn send(&self, message: Value) -> anyhow::Result<()> {
        if let Some(why) = self.died() {
            bail!("monitor: cannot send on a dead connection ({why})");
        }
        self.tx
            .send(Message::text(message.to_string()))
            .map_err(|_| anyhow::anyhow!("monitor: the connection is gone"))
    }

    /// Why the receive loop stopped, if it did.
    pub fn died(&self) -> Option<String> {
        self.seen.lock().unwrap().died.clone()
    }

    /// The longest time without a data frame so far.
    pub fn longest_silence(&self) -> Duration {
        self.seen.lock().unwrap().longest_silence
    }

    /// Data frames received.
    pub fn frames(&self) -> usize {
        self.seen.lock().unwrap().frames
    }

    /// The last `gama.experiment_state`, `gama.connected` and `experiment_id` seen.
    pub fn state(&self) -> (String, Option<bool>, String) {
        let s = self.seen.lock().unwrap();
        (
            s.experiment_state.clone(),
            s.gama_connected,
            s.experiment_id.clone(),
        )
    }

    /// Waits (polling every `every`) until `pick` takes a message from the inbox.
    async fn take(
        &self,
        limit: Duration,
        every: Duration,
        pick: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + limit;
        loop {
            {
                let mut seen = self.seen.lock().unwrap();
                if let Some(i) = seen.inbox.iter().position(&pick) {
                    return seen.inbox.remove(i);
                }
                if seen.died.is_some() {
                    return None;
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Waits for the catalog (a list).
    async fn catalog(&self, limit: Duration) -> Option<Value> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(c) = self.seen.lock().unwrap().catalog.take() {
                return Some(c);
            }
            if Instant::now() >= deadline || self.died().is_some() {
                return None;
            }
            tokio::time::sleep(INBOX_POLL).await;
        }
    }

    /// Waits (polling every 200 ms) until the experiment's state satisfies `done`.
    async fn until_state(&self, limit: Duration, done: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let (state, _, _) = self.state();
            if done(&state) {
                return Some(state);
            }
            if Instant::now() >= deadline || self.died().is_some() {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Ends as the tool does: a close frame `1000 reason` if the socket is still alive (after
    /// waiting, as its loop does, for the next frame), nothing (an abort) otherwise.
    pub async fn finish(self, reason: &str) {
        if self.died().is_none() {
            let _ = self.tx.send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: reason.to_string().into(),
            })));
            let _ = tokio::time::timeout(RECEIVE_SLICE * 2, self.task).await;
        } else {
            self.task.abort();
        }
    }

    /// Drops the connection without a close frame, as `Dispose()` after a failed step does.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// The next data frame's text (pings and pongs do not count).
async fn next_data<S>(stream: &mut S) -> Option<String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await? {
            Ok(Message::Text(t)) => return Some(t.as_str().to_string()),
            Ok(Message::Binary(b)) => return Some(String::from_utf8_lossy(&b).into_owned()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// `HandleMessage`: what the tool does with one message. `Err` stops its receive loop.
fn read(seen: &mut Seen, text: &str) -> Result<(), String> {
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return Ok(()); // silently ignored
    };
    if let Value::String(inner) = &value {
        match serde_json::from_str::<Value>(inner) {
            Ok(v) => value = v,
            Err(_) => return Ok(()),
        }
    }
    if value.is_array() {
        seen.catalog = Some(value);
        return Ok(());
    }
    if let Some(gama) = value.get("gama").filter(|g| g.is_object()) {
        match gama.get("connected") {
            Some(Value::Bool(b)) => seen.gama_connected = Some(*b),
            Some(other) => {
                return Err(format!(
                    "gama.connected is {other}, not a boolean: the tool's receive loop throws"
                ));
            }
            None => {}
        }
        if let Some(s) = gama["experiment_state"].as_str().filter(|s| !s.is_empty()) {
            seen.experiment_state = s.to_string();
        }
        if let Some(s) = gama["experiment_id"].as_str().filter(|s| !s.is_empty()) {
            seen.experiment_id = s.to_string();
        }
    }
    if value.get("entries").is_some_and(Value::is_array) {
        seen.catalog = Some(Value::Array(vec![value.clone()]));
    }
    seen.inbox.push_back(value);
    Ok(())
}

/// What a diagnosis found.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// One entry: its enriched settings (with `model_index`).
    Ok(Value),
    /// None for this model and experiment.
    NotFound(String),
    /// Two entries fit equally well.
    Ambiguous(String),
}

/// The Unity editor tool, pointed at a monitor socket.
#[derive(Debug, Clone, Copy)]
pub struct Orchestrator {
    /// The monitor socket's address.
    pub addr: SocketAddr,
}

impl Orchestrator {
    /// `DiagnoseCatalogAsync`: the catalog, each model's settings, and the entry matching the
    /// scene's model file and experiment.
    pub async fn diagnose(&self, model_path: &str, experiment: &str) -> anyhow::Result<Match> {
        let conn = Connection::open(self.addr).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let found = self.find(&conn, model_path, experiment).await;
        match found {
            Ok(m) => {
                conn.finish("diag done").await;
                Ok(m)
            }
            Err(e) => {
                conn.abort();
                Err(e)
            }
        }
    }

    /// Steps 3 to 6: the catalog, enriched, then the match.
    async fn find(
        &self,
        conn: &Connection,
        model_path: &str,
        experiment: &str,
    ) -> anyhow::Result<Match> {
        conn.send(json!({"type": "get_simulation_informations"}))?;
        let Some(catalog) = conn.catalog(CATALOG_TIMEOUT).await else {
            bail!(
                "Catalogue VU non reçu du monitor (get_simulation_informations){}",
                died(conn)
            );
        };
        let mut entries = Vec::new();
        flatten(&catalog, &mut entries);
        let mut enriched = Vec::new();
        let mut asked = Vec::new();
        for entry in entries {
            let Some(index) = entry
                .get("model_index")
                .and_then(Value::as_i64)
                .filter(|_| entry["model_index"].is_i64() || entry["model_index"].is_u64())
            else {
                enriched.push(entry);
                continue;
            };
            if asked.contains(&index) {
                continue;
            }
            asked.push(index);
            conn.send(json!({"type": "get_simulation_by_index", "simulationIndex": index}))?;
            // The first answer in the inbox, whichever index it answers.
            match conn
                .take(ENRICH_TIMEOUT, INBOX_POLL, |m| {
                    m["type"] == "get_simulation_by_index" && m["simulation"].is_object()
                })
                .await
            {
                Some(answer) => {
                    let mut full = answer["simulation"].clone();
                    full["model_index"] = json!(index);
                    enriched.push(full);
                }
                None => enriched.push(entry),
            }
        }
        if let Some(why) = conn.died() {
            bail!("monitor connection lost during the diagnosis: {why}");
        }
        Ok(best_match(&enriched, model_path, experiment))
    }

    /// `StartMiddlewareManagedExperimentAsync`: select the scene's model, launch it, resume it.
    /// Returns the experiment's state at the end and the connection's longest silence.
    pub async fn start(
        &self,
        experiment: &str,
        model_path: &str,
    ) -> anyhow::Result<(String, Duration)> {
        let conn = Connection::open(self.addr).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let result = async {
            let found = self.find(&conn, model_path, experiment).await?;
            let Match::Ok(simulation) = found else {
                bail!("Expérience Unity introuvable dans le catalogue middleware: {found:?}");
            };
            conn.send(json!({"type": "send_simulation", "simulation": simulation}))?;
            // Any answer will do, and none is needed.
            let _ = conn
                .take(SELECT_TIMEOUT, INBOX_POLL, |m| m["type"] == "get_simulation_by_index")
                .await;
            conn.send(json!({"type": "launch_experiment"}))?;
            let Some(state) = conn
                .until_state(LAUNCH_TIMEOUT, |s| {
                    !s.is_empty() && !s.eq_ignore_ascii_case("NONE") && !s.eq_ignore_ascii_case("NOTREADY")
                })
                .await
            else {
                bail!(
                    "launch_experiment n'a pas fait sortir l'expérience de NONE/NOTREADY (état={}){}",
                    conn.state().0,
                    died(&conn)
                );
            };
            if state.eq_ignore_ascii_case("PAUSED") {
                conn.send(json!({"type": "resume_experiment"}))?;
                // Not reaching RUNNING is not a failure for the tool.
                let _ = conn
                    .until_state(RESUME_TIMEOUT, |s| s.eq_ignore_ascii_case("RUNNING"))
                    .await;
            }
            if let Some(why) = conn.died() {
                bail!("monitor connection lost: {why}");
            }
            Ok(conn.state().0)
        }
        .await;
        match result {
            Ok(state) => {
                let silence = conn.longest_silence();
                conn.finish("orch done").await;
                Ok((state, silence))
            }
            Err(e) => {
                conn.abort();
                Err(e)
            }
        }
    }

    /// `PauseExperimentAsync`: `pause_experiment`, 500 ms, close.
    pub async fn pause(&self) -> anyhow::Result<()> {
        let conn = Connection::open(self.addr).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        conn.send(json!({"type": "pause_experiment"}))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        conn.finish("pause done").await;
        Ok(())
    }
}

fn died(conn: &Connection) -> String {
    conn.died().map(|w| format!(" ({w})")).unwrap_or_default()
}

/// The `json_settings` entries of a catalog, depth first.
fn flatten(node: &Value, out: &mut Vec<Value>) {
    match node {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("catalog") => {
            if let Some(entries) = o.get("entries") {
                flatten(entries, out);
            }
        }
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("json_settings") => {
            out.push(node.clone());
        }
        _ => {}
    }
}

fn token(s: &str) -> String {
    s.trim().to_lowercase()
}

fn normal_path(s: &str) -> String {
    let mut p = token(s).replace('\\', "/");
    while p.contains("//") {
        p = p.replace("//", "/");
    }
    p
}

fn file_name(p: &str) -> String {
    p.rsplit('/').next().unwrap_or(p).to_string()
}

/// `TryFindJsonSettings`: the entry for this experiment and model file.
pub fn best_match(entries: &[Value], model_path: &str, experiment: &str) -> Match {
    let want_exp = token(experiment);
    let want_path = normal_path(model_path);
    let want_file = file_name(&want_path);
    let eligible: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            let exp = e
                .get("experiment_name")
                .or_else(|| e.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            token(exp) == want_exp
        })
        .collect();
    let mut scored: Vec<(u32, usize, &Value)> = eligible
        .iter()
        .filter_map(|e| {
            let path = normal_path(e.get("model_file_path")?.as_str()?);
            let exact = path == want_path;
            let suffix = path.ends_with(&format!("/{want_path}"))
                || want_path.ends_with(&format!("/{path}"));
            let file = file_name(&path) == want_file;
            if !(exact || suffix || file) {
                return None;
            }
            let score = 1000
                + if exact { 300 } else { 0 }
                + if suffix { 200 } else { 0 }
                + if file { 100 } else { 0 };
            Some((score, path.len(), *e))
        })
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse((s.0, s.1)));
    match scored.as_slice() {
        [] => match eligible.as_slice() {
            [one] if one.get("model_file_path").is_none() => Match::Ok((*one).clone()),
            _ => Match::NotFound(format!(
                "{experiment} in {model_path}: {} entries for this experiment",
                eligible.len()
            )),
        },
        [(s1, l1, best), (s2, l2, _), ..] if s1 == s2 && l1 == l2 => Match::Ambiguous(format!(
            "Catalogue mismatch: two entries fit {experiment} in {model_path} equally ({})",
            best["model_file_path"]
        )),
        [(_, _, best), ..] => Match::Ok((*best).clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_follows_the_editor_tool() {
        let entries = vec![
            json!({"experiment_name":"vr_xp","model_file_path":"/srv/lp/a/Models/Demo.gaml","model_index":0}),
            json!({"experiment_name":"vr_xp","model_file_path":"/srv/lp/b/Models/Other.gaml","model_index":1}),
        ];
        let Match::Ok(m) = best_match(&entries, r"C:\Unity\Proj\Models\Other.gaml", "VR_xp") else {
            panic!("no match")
        };
        assert_eq!(m["model_index"], 1);
        assert!(matches!(
            best_match(&entries, "/x/Third.gaml", "vr_xp"),
            Match::NotFound(_)
        ));
        let twins = vec![entries[0].clone(), entries[0].clone()];
        assert!(matches!(
            best_match(&twins, "/srv/lp/a/Models/Demo.gaml", "vr_xp"),
            Match::Ambiguous(_)
        ));
    }

    #[test]
    fn a_state_with_a_non_boolean_connected_kills_the_loop() {
        let mut seen = Seen::default();
        assert!(
            read(
                &mut seen,
                r#"{"type":"json_state","gama":{"connected":true,"experiment_state":"PAUSED"}}"#
            )
            .is_ok()
        );
        assert_eq!(seen.experiment_state, "PAUSED");
        assert!(
            read(
                &mut seen,
                r#"{"type":"json_state","gama":{"connected":null}}"#
            )
            .is_err()
        );
        assert!(read(&mut seen, r#""[{\"type\":\"json_settings\"}]""#).is_ok());
        assert!(seen.catalog.is_some());
    }
}
