//! Who was turned away at the headset port, for the admin page: connections that claimed the id
//! of a live player from another address, and headsets from outside `headsets.allowed_networks`.
//! Each is also logged (rate-limited by the caller) and counted in `/metrics`.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use crate::changes::Changes;
use crate::clock::now_rfc3339;
use crate::said::Said;

/// Refusals kept for the admin page.
const KEEP: usize = 50;

/// One refusal.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// When (RFC 3339).
    pub at: String,
    /// The address refused.
    pub source: String,
    /// The player id it claimed, if it got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player: Option<String>,
    /// Why, in the words the headset was told.
    pub reason: String,
    /// The same as a code, for the page's language (`crate::said`).
    pub code: &'static str,
    /// The values in it.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// The recent refusals; cheap to clone.
#[derive(Debug, Clone)]
pub struct Refusals {
    recent: Arc<Mutex<VecDeque<Refusal>>>,
    changes: Changes,
}

impl Refusals {
    /// None yet.
    pub fn new(changes: Changes) -> Self {
        Refusals {
            recent: Arc::default(),
            changes,
        }
    }

    /// Someone was turned away.
    pub fn record(&self, source: IpAddr, player: Option<&str>, reason: Said) {
        {
            let mut recent = self.recent.lock();
            if recent.len() == KEEP {
                recent.pop_front();
            }
            recent.push_back(Refusal {
                at: now_rfc3339(),
                source: source.to_string(),
                player: player.map(str::to_string),
                reason: reason.text,
                code: reason.code,
                params: reason.params,
            });
        }
        self.changes.notify();
    }

    /// The most recent refusals, newest first.
    pub fn recent(&self) -> Vec<Refusal> {
        self.recent.lock().iter().rev().cloned().collect()
    }
}
