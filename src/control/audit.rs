//! What operators changed, from where, and how it went: every change made through the admin API
//! (launch, pause, resume, stop, remove a player, a console expression, a model selected, the
//! packages rescanned) or through the gama-server endpoint for tools (load, play, pause, step,
//! reload, stop…). A classroom network is shared: after a session the teacher can tell what was
//! done from the page and what from elsewhere.
//!
//! The last entries are kept in memory for the admin page (`GET /api/audit`), each one is logged,
//! and a recording of the session gets them too.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tracing::info;

use crate::control::said::{Code, Said};
use crate::history::kept::Sessions;
use crate::history::record::Recorder;
use crate::support::changes::Changes;
use crate::support::clock::now_rfc3339;

/// Entries kept for the admin page.
const KEEP: usize = 200;

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The admin page or a script using the admin API.
    Admin,
    /// A tool connected to the gama-server endpoint.
    Tool,
    /// A client of the monitor socket (the Unity editor tool).
    Monitor,
}

/// One change.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// When (RFC 3339).
    pub at: String,
    /// The address it came from.
    pub source: String,
    /// Through the admin API or the tool endpoint.
    pub via: Via,
    /// What was asked, in plain words (`launch`, `remove Player_101`, `console: cycle`…).
    pub action: String,
    /// The same as a code, for the page's language (`launch`, `remove`, `console`, `tool`…).
    pub kind: Code,
    /// The values in it (`player`, `expr`, `command`…).
    pub params: Map<String, Value>,
    /// Whether it was done.
    pub ok: bool,
    /// Why not, or what came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why not, as a code (an API error's, or `gama_said` with GAMA's `message`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail_code: Option<Code>,
    /// The values in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail_params: Option<Map<String, Value>>,
}

/// The audit trail; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    entries: Arc<Mutex<VecDeque<AuditEntry>>>,
    recorder: Option<Arc<Recorder>>,
    sessions: Sessions,
    changes: Changes,
}

impl Audit {
    /// An empty trail, written to the kept session and to `recorder` (when the session is
    /// recorded) too.
    pub fn new(recorder: Option<Arc<Recorder>>, sessions: Sessions, changes: Changes) -> Self {
        Audit {
            entries: Arc::default(),
            recorder,
            sessions,
            changes,
        }
    }

    /// Records a change and its outcome (`Err` carries why it was not done).
    pub fn record(&self, source: IpAddr, via: Via, action: Said, outcome: Result<(), Said>) {
        let (ok, why) = match outcome {
            Ok(()) => (true, None),
            Err(why) => (false, Some(why)),
        };
        let entry = AuditEntry {
            at: now_rfc3339(),
            source: source.to_string(),
            via,
            action: action.text,
            kind: action.code,
            params: action.params,
            ok,
            detail_code: why.as_ref().map(|w| w.code),
            detail: why.as_ref().map(|w| w.text.clone()),
            detail_params: why.map(|w| w.params),
        };
        match &entry.detail {
            None => info!(source = %entry.source, via = ?via, "operator: {}", entry.action),
            Some(why) => {
                info!(source = %entry.source, via = ?via, "operator: {} (not done: {why})", entry.action)
            }
        }
        if let Ok(json) = serde_json::to_vec(&entry) {
            if let Some(recorder) = &self.recorder {
                recorder.audit(json.clone());
            }
            // The session in progress, or the next one if it starts within moments (a launch).
            self.sessions.audit(json);
        }
        {
            let mut entries = self.entries.lock();
            if entries.len() == KEEP {
                entries.pop_front();
            }
            entries.push_back(entry);
        }
        self.changes.notify();
    }

    /// The most recent entries, newest first.
    pub fn recent(&self, n: usize) -> Vec<AuditEntry> {
        self.entries.lock().iter().rev().take(n).cloned().collect()
    }
}

/// A command a tool sent through the gama-server endpoint (`load`, `play`, `stop`…).
pub fn tool_command(kind: &str) -> Said {
    Said::new(Code::Tool, [("command", json!(kind))], kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_first_and_bounded() {
        let sessions = Sessions::new(
            crate::Config::default().sessions,
            std::env::temp_dir(),
            crate::server::metrics::Metrics::new(),
        );
        let audit = Audit::new(None, sessions, Changes::default());
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        for i in 0..(KEEP + 5) {
            let action = Said::new(Code::Remove, [("player", json!(i))], format!("remove {i}"));
            audit.record(ip, Via::Admin, action, Ok(()));
        }
        audit.record(
            ip,
            Via::Tool,
            tool_command("stop"),
            Err(Said::new(Code::GamaSaid, [("message", json!("no"))], "no")),
        );
        let recent = audit.recent(KEEP + 10);
        assert_eq!(recent.len(), KEEP);
        assert_eq!(recent[0].action, "stop");
        assert!(!recent[0].ok);
        assert_eq!(recent[0].via, Via::Tool);
        let newest = serde_json::to_value(&recent[0]).unwrap();
        assert_eq!(newest["kind"], "tool");
        assert_eq!(newest["params"], json!({"command": "stop"}));
        assert_eq!(newest["detail_code"], "gama_said");
        assert_eq!(newest["detail_params"], json!({"message": "no"}));
        assert_eq!(recent[1].action, format!("remove {}", KEEP + 4));
        assert_eq!(recent[1].params["player"], KEEP + 4);
    }
}
