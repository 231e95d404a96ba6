//! Playing a kept session back, decided without a socket: where the playback stands, what the
//! page's seek, play, pause and follow change, what is due next and what a tick of the clock tells
//! the page. The admin page's playback socket (`admin::kept`) only performs: it reads what
//! [`Playback`] asks to read from the files, sends what it says to send, and sleeps until
//! [`Playback::next_due`]; the time is always an input, so every case is tested here without
//! sockets or files, as `roster` decides for `players`.
//!
//! While paused the playback stands at a session time; while playing, the session time runs from
//! an origin (an instant and the session time then) at a speed, quiet stretches included, so the
//! clock the page shows moves steadily and the end comes when the recording ends.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::read::DataLine;
use super::view::{READ_AHEAD_MS, View};

/// The fastest playback the page may ask for.
const MAX_SPEED: f64 = 64.0;

/// What the page asks of the playback.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Control {
    /// Go to session time `t` (ms).
    Seek {
        /// Session time (ms).
        t: u64,
    },
    /// Play at `speed` times real time.
    Play {
        /// Times real time (at most [`MAX_SPEED`]; anything not positive is 1).
        speed: f64,
    },
    /// Stop where it stands.
    Pause,
    /// Show another player's view, from where it stands.
    Follow {
        /// The player's id.
        player: String,
    },
}

/// What is due while playing, once [`Playback::next_due`] comes.
#[derive(Debug, PartialEq)]
pub(crate) enum Due {
    /// Nothing to send (a line that changes no frame of the player followed).
    Nothing,
    /// The frame the player followed got then; the playback ends if the page cannot take it.
    Frame(String),
    /// Read the lines after this session time ([`super::view::lines_after`]) and hand them to
    /// [`Playback::read`].
    ReadOn(u64),
    /// The end of the recording: the clock, stopped, told whether or not the page hears it.
    End(String),
}

/// One playback of a kept session, for one page.
pub(crate) struct Playback {
    /// The recording's length (ms).
    duration: u64,
    /// The player whose view is shown.
    player: String,
    /// Where the playback stands while paused (session ms).
    t: u64,
    speed: f64,
    playing: bool,
    /// While playing, the instant session time `origin.1` was shown.
    origin: (Instant, u64),
    /// Lines read ahead and not played yet.
    pending: VecDeque<String>,
    /// The session is read up to this session time.
    read_until: u64,
    view: View,
    /// A seek the page asked for, done before anything else.
    seek_to: Option<u64>,
    /// Positions changed since the page last heard them.
    positions_dirty: bool,
}

impl Playback {
    /// A paused playback of a recording `duration` ms long, showing `player`'s view, that starts by
    /// seeking to its start.
    pub(crate) fn new(duration: u64, player: String, now: Instant) -> Playback {
        Playback {
            duration,
            player,
            t: 0,
            speed: 1.0,
            playing: false,
            origin: (now, 0),
            pending: VecDeque::new(),
            read_until: 0,
            view: View::default(),
            seek_to: Some(0),
            positions_dirty: false,
        }
    }

    /// The view to read before anything else when a seek is asked (or another player followed):
    /// that player, and the session time (ms) to read it at ([`super::view::view_at`]). The view
    /// read goes to [`Playback::seeked`].
    pub(crate) fn wanted_view(&mut self) -> Option<(String, u64)> {
        let target = self.seek_to.take()?;
        self.t = target.min(self.duration);
        Some((self.player.clone(), self.t))
    }

    /// Takes the view read for a seek; returns what the page gets, in order: a reset, the followed
    /// player's latest frames, every position and the clock. The playback ends if the page cannot
    /// take them.
    pub(crate) fn seeked(&mut self, view: View, now: Instant) -> Vec<String> {
        self.view = view;
        self.pending.clear();
        self.read_until = self.t;
        self.origin = (now, self.t);
        let mut out = vec!["{\"type\":\"reset\"}".to_string()];
        out.extend(
            self.view
                .ordered_frames()
                .iter()
                .map(|f| f.as_str().to_string()),
        );
        out.push(self.view.positions_message(self.t));
        out.push(self.clock(self.t));
        out
    }

    /// Takes what the page asked; returns the clock to tell it, whether or not it hears (a play or
    /// a pause), if any.
    pub(crate) fn control(&mut self, control: Control, now: Instant) -> Option<String> {
        match control {
            Control::Seek { t } => {
                self.seek_to = Some(t);
                None
            }
            Control::Play { speed } => {
                self.stand(now);
                self.speed = if speed.is_finite() && speed > 0.0 {
                    speed.min(MAX_SPEED)
                } else {
                    1.0
                };
                self.playing = true;
                self.origin = (now, self.t);
                Some(self.clock(self.t))
            }
            Control::Pause => {
                self.stand(now);
                self.playing = false;
                Some(self.clock(self.t))
            }
            Control::Follow { player } => {
                if self.playing {
                    self.t = self.at(now);
                    self.origin = (now, self.t);
                }
                self.player = player;
                self.seek_to = Some(self.t);
                None
            }
        }
    }

    /// When something is due, while playing: the next line read ahead, else reading on (at most
    /// [`READ_AHEAD_MS`] ahead of the clock), else the end of the recording.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.playing.then(|| match self.pending.front() {
            Some(line) => {
                let at = serde_json::from_str::<DataLine<'_>>(line).map_or(0, |d| d.t);
                self.instant_of(at)
            }
            None if self.read_until < self.duration => {
                self.instant_of(self.read_until.saturating_sub(READ_AHEAD_MS))
            }
            None => self.instant_of(self.duration),
        })
    }

    /// What is due now that [`Playback::next_due`] came.
    pub(crate) fn due(&mut self) -> Due {
        if let Some(line) = self.pending.pop_front() {
            let Ok(data) = serde_json::from_str::<DataLine<'_>>(&line) else {
                return Due::Nothing;
            };
            if data.snap {
                return Due::Nothing;
            }
            self.positions_dirty |= data.pos.is_some() || data.player.is_some();
            match self.view.take(&data, &self.player) {
                Some(frame) => Due::Frame(frame.as_str().to_string()),
                None => Due::Nothing,
            }
        } else if self.read_until < self.duration {
            Due::ReadOn(self.read_until)
        } else {
            self.playing = false;
            self.t = self.duration;
            Due::End(self.clock(self.t))
        }
    }

    /// Takes the lines read after `from` ([`Due::ReadOn`]). What was written after the end (the
    /// players' last states, during the session's linger time) is not played: the recording ends
    /// at its end.
    pub(crate) fn read(&mut self, from: u64, lines: Vec<String>) {
        self.read_until = from + READ_AHEAD_MS;
        let duration = self.duration;
        self.pending = lines
            .into_iter()
            .filter(|l| serde_json::from_str::<DataLine<'_>>(l).is_ok_and(|d| d.t <= duration))
            .collect();
    }

    /// A tick of the page's clock: the positions if they changed (trails fade as time passes, even
    /// for players standing still), and the clock while playing. The playback ends if the page
    /// cannot take them.
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<String> {
        let now = if self.playing { self.at(now) } else { self.t };
        let faded = self.playing && self.view.fade(now);
        let mut out = Vec::new();
        if self.positions_dirty || faded {
            self.positions_dirty = false;
            out.push(self.view.positions_message(now));
        }
        if self.playing {
            out.push(self.clock(now));
        }
        out
    }

    /// While playing, brings where it stands up to `now`.
    fn stand(&mut self, now: Instant) {
        if self.playing {
            self.t = self.at(now);
        }
    }

    /// The session time at `now`, while playing.
    fn at(&self, now: Instant) -> u64 {
        let ran = now.saturating_duration_since(self.origin.0).as_secs_f64() * 1000.0 * self.speed;
        (self.origin.1 + ran as u64).min(self.duration)
    }

    /// The instant session time `at` comes, while playing.
    fn instant_of(&self, at: u64) -> Instant {
        let wait = at.saturating_sub(self.origin.1) as f64 / self.speed;
        self.origin.0 + Duration::from_secs_f64(wait / 1000.0)
    }

    /// The page's `clock` message at session time `t`.
    fn clock(&self, t: u64) -> String {
        json!({
            "type": "clock",
            "t": t,
            "playing": self.playing,
            "speed": self.speed,
            "duration": self.duration,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn clock_of(text: &str) -> (u64, bool, f64) {
        let v = parsed(text);
        assert_eq!(v["type"], "clock", "{v}");
        (
            v["t"].as_u64().unwrap(),
            v["playing"].as_bool().unwrap(),
            v["speed"].as_f64().unwrap(),
        )
    }

    /// A playback of a 60 s recording that has done its first seek, at `start`.
    fn started(start: Instant) -> Playback {
        let mut playback = Playback::new(60_000, "p1".into(), start);
        assert_eq!(playback.wanted_view(), Some(("p1".to_string(), 0)));
        playback.seeked(View::default(), start);
        playback
    }

    #[test]
    fn it_starts_paused_at_the_start_with_a_reset_positions_and_the_clock() {
        let start = Instant::now();
        let mut playback = Playback::new(60_000, "p1".into(), start);
        assert_eq!(playback.wanted_view(), Some(("p1".to_string(), 0)));
        assert_eq!(playback.wanted_view(), None, "a seek is done once");
        let out = playback.seeked(View::default(), start);
        assert_eq!(out[0], r#"{"type":"reset"}"#);
        assert_eq!(parsed(&out[1])["type"], "positions");
        assert_eq!(clock_of(&out[2]), (0, false, 1.0));
        assert_eq!(out.len(), 3);
        assert_eq!(playback.next_due(), None, "nothing is due while paused");
        assert!(playback.tick(start + 200 * MS).is_empty());
    }

    #[test]
    fn a_seek_past_the_end_stands_at_the_end() {
        let start = Instant::now();
        let mut playback = started(start);
        assert_eq!(playback.control(Control::Seek { t: 90_000 }, start), None);
        assert_eq!(playback.wanted_view(), Some(("p1".to_string(), 60_000)));
        let out = playback.seeked(View::default(), start);
        assert_eq!(clock_of(out.last().unwrap()), (60_000, false, 1.0));
    }

    #[test]
    fn playing_runs_the_clock_at_its_speed_and_pausing_stops_it_there() {
        let start = Instant::now();
        let mut playback = started(start);
        let told = playback
            .control(Control::Play { speed: 4.0 }, start)
            .unwrap();
        assert_eq!(clock_of(&told), (0, true, 4.0));
        let ticked = playback.tick(start + 500 * MS);
        assert_eq!(ticked.len(), 1, "no positions changed: only the clock");
        assert_eq!(clock_of(&ticked[0]), (2_000, true, 4.0));
        let told = playback
            .control(Control::Pause, start + 1_000 * MS)
            .unwrap();
        assert_eq!(clock_of(&told), (4_000, false, 4.0));
        assert!(playback.tick(start + 5_000 * MS).is_empty(), "paused");
        // Resuming at another speed goes on from where it stood.
        let told = playback
            .control(Control::Play { speed: 1.0 }, start + 9_000 * MS)
            .unwrap();
        assert_eq!(clock_of(&told), (4_000, true, 1.0));
        let ticked = playback.tick(start + 10_000 * MS);
        assert_eq!(clock_of(&ticked[0]), (5_000, true, 1.0));
    }

    #[test]
    fn a_speed_out_of_bounds_is_brought_back() {
        let start = Instant::now();
        let mut playback = started(start);
        for (asked, speed) in [(100.0, 64.0), (0.0, 1.0), (-2.0, 1.0), (f64::NAN, 1.0)] {
            let told = playback
                .control(Control::Play { speed: asked }, start)
                .unwrap();
            assert_eq!(clock_of(&told).2, speed, "asked {asked}");
        }
    }

    #[test]
    fn playing_reads_ahead_then_plays_the_lines_when_their_time_comes() {
        let start = Instant::now();
        let mut playback = started(start);
        playback.control(Control::Play { speed: 2.0 }, start);
        // Nothing read yet: reading on is due at once.
        assert_eq!(playback.next_due(), Some(start));
        assert_eq!(playback.due(), Due::ReadOn(0));
        playback.read(
            0,
            vec![
                r#"{"t":1000,"out":{"p":["p2"],"f":{"for":"p2"}}}"#.into(),
                r#"{"t":2000,"pos":{"p":"p2","x":1,"y":2,"z":0,"angle":0}}"#.into(),
                r#"{"t":3000,"out":{"p":["p1","p2"],"f":{"for":"both"}}}"#.into(),
            ],
        );
        // Session time 1 s comes after half a second at twice real time.
        assert_eq!(playback.next_due(), Some(start + 500 * MS));
        assert_eq!(playback.due(), Due::Nothing, "a frame for another player");
        assert_eq!(playback.next_due(), Some(start + 1_000 * MS));
        assert_eq!(playback.due(), Due::Nothing, "a position");
        let Due::Frame(frame) = playback.due() else {
            panic!("the frame p1 got")
        };
        assert!(frame.contains(r#"{"for":"both"}"#), "{frame}");
        // The position moved: the next tick tells it, with the clock.
        let ticked = playback.tick(start + 1_600 * MS);
        assert_eq!(parsed(&ticked[0])["players"]["p2"]["x"], 1);
        assert_eq!(clock_of(&ticked[1]), (3_200, true, 2.0));
        // Read on when the clock is READ_AHEAD_MS before what was read.
        assert_eq!(playback.next_due(), Some(start));
        assert_eq!(playback.due(), Due::ReadOn(READ_AHEAD_MS));
    }

    #[test]
    fn lines_past_the_end_and_snapshots_are_not_played() {
        let start = Instant::now();
        let mut playback = Playback::new(2_000, "p1".into(), start);
        playback.wanted_view();
        playback.seeked(View::default(), start);
        playback.control(Control::Play { speed: 1.0 }, start);
        playback.read(
            0,
            vec![
                r#"{"t":500,"snap":true,"out":{"p":["p1"],"f":{"snap":1}}}"#.into(),
                r#"{"t":2500,"out":{"p":["p1"],"f":{"late":1}}}"#.into(),
            ],
        );
        assert_eq!(playback.due(), Due::Nothing, "a snapshot line");
        // Read up to READ_AHEAD_MS, past the end: the end is due at the end.
        assert_eq!(playback.next_due(), Some(start + 2_000 * MS));
        let Due::End(clock) = playback.due() else {
            panic!("the end")
        };
        assert_eq!(clock_of(&clock), (2_000, false, 1.0));
        assert_eq!(playback.next_due(), None, "stopped at the end");
    }

    #[test]
    fn following_another_player_seeks_to_where_the_playback_stands() {
        let start = Instant::now();
        let mut playback = started(start);
        playback.control(Control::Play { speed: 1.0 }, start);
        let follow = Control::Follow {
            player: "p2".into(),
        };
        assert_eq!(playback.control(follow, start + 3_000 * MS), None);
        assert_eq!(playback.wanted_view(), Some(("p2".to_string(), 3_000)));
        let out = playback.seeked(View::default(), start + 3_100 * MS);
        assert_eq!(clock_of(out.last().unwrap()), (3_000, true, 1.0));
        // The clock runs on from the seek.
        let ticked = playback.tick(start + 4_100 * MS);
        assert_eq!(clock_of(ticked.last().unwrap()), (4_000, true, 1.0));
    }

    #[test]
    fn the_page_asks_in_the_json_it_always_sent() {
        let c: Control = serde_json::from_str(r#"{"type":"seek","t":1200}"#).unwrap();
        assert!(matches!(c, Control::Seek { t: 1200 }));
        let c: Control = serde_json::from_str(r#"{"type":"play","speed":4}"#).unwrap();
        assert!(matches!(c, Control::Play { speed } if speed == 4.0));
        let c: Control = serde_json::from_str(r#"{"type":"pause"}"#).unwrap();
        assert!(matches!(c, Control::Pause));
        let c: Control = serde_json::from_str(r#"{"type":"follow","player":"p2"}"#).unwrap();
        assert!(matches!(c, Control::Follow { player } if player == "p2"));
    }
}
