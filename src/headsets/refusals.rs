//! Who was turned away at the headset port, for the admin page: connections that claimed the id
//! of a live player from another address, and headsets from outside `headsets.allowed_networks`.
//! Each is also logged (rate-limited by the caller) and counted in `/metrics`.
//!
//! A connection that claimed a live player's id is not closed: the Unity app would never try
//! again, and its student would see nothing. It waits, told why, and is admitted as soon as the
//! live headset leaves or goes silent. Those waiting are listed here too, at most
//! `headsets.max_waiting_for_id` of them.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use crate::control::said::{Code, Said};
use crate::support::changes::Changes;
use crate::support::clock::now_rfc3339;

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
    /// The same as a code, for the page's language (`crate::control::said`).
    pub code: Code,
    /// The values in it.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// A connection waiting for the id it claimed, in use by a live headset.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    /// The player id it claimed.
    pub player: String,
    /// Its address.
    pub source: String,
    /// The address of the live headset that has the id.
    pub holder: String,
    /// Since when it waits (RFC 3339).
    pub since: String,
}

/// The recent refusals and the connections waiting for their id; cheap to clone.
#[derive(Debug, Clone)]
pub struct Refusals {
    recent: Arc<Mutex<VecDeque<Refusal>>>,
    waiting: Arc<Mutex<BTreeMap<u64, Waiting>>>,
    max_waiting: usize,
    changes: Changes,
}

/// A connection's place on the waiting list; dropping it takes it off.
#[derive(Debug)]
pub struct WaitTicket {
    refusals: Refusals,
    serial: u64,
}

impl Drop for WaitTicket {
    fn drop(&mut self) {
        self.refusals.waiting.lock().remove(&self.serial);
        self.refusals.changes.notify();
    }
}

impl Refusals {
    /// None yet; at most `max_waiting` connections wait for their id at once.
    pub fn new(changes: Changes, max_waiting: usize) -> Self {
        Refusals {
            recent: Arc::default(),
            waiting: Arc::default(),
            max_waiting,
            changes,
        }
    }

    /// Connection `serial` waits for the id it claimed; `None` when as many as
    /// `headsets.max_waiting_for_id` already wait.
    pub fn wait(&self, serial: u64, waiting: Waiting) -> Option<WaitTicket> {
        {
            let mut list = self.waiting.lock();
            if list.len() >= self.max_waiting {
                return None;
            }
            list.insert(serial, waiting);
        }
        self.changes.notify();
        Some(WaitTicket {
            refusals: self.clone(),
            serial,
        })
    }

    /// The connections waiting for their id, longest waiting first.
    pub fn waiting(&self) -> Vec<Waiting> {
        let mut list: Vec<Waiting> = self.waiting.lock().values().cloned().collect();
        list.sort_by(|a, b| a.since.cmp(&b.since));
        list
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
