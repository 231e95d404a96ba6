//! The admin page's Sessions panel, timeline and playback, and its Recent changes, in the system's
//! headless Chromium (see `tests/browser/harness.rs`), against a relay with a fake GAMA and
//! simulated headsets.
//!
//! A session is driven from the page (launch, resume, pause, stop) while the headsets act: asks by
//! name, `move_player_external` to known places while the experiment is paused, expressions; one
//! headset drops and comes back. The kept session is then opened from the panel: its lanes, marks
//! and table are compared with what the headsets sent, and seeking (a click on the timeline, the
//! scrubber, its keys) shows in the world view the agent and the players where they were then: the
//! fake GAMA's agent moves with its cycle, read when each pause began. Screenshots go to
//! `target/admin-sessions*.png`.

mod common;

#[path = "browser/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use harness::*;
use relay_testkit::{FakeGama, FakeGamaOptions, Headset};
use serde_json::{Value, json};

const TOKEN: &str = "d3br1ef-t0ken";
const SNAPSHOT: &str = "window.worldView.snapshot()";
const SESSIONS: &str = "window.sessionsView.snapshot()";
/// The fake GAMA's precision (protocol.md §6.1).
const PRECISION: f64 = 10_000.0;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

fn close(a: f64, b: f64, tolerance: f64, what: &str) {
    assert!(
        (a - b).abs() <= tolerance,
        "{what}: {a} is not {b} (± {tolerance})"
    );
}

/// Where the fake GAMA's moving agent is at `cycle` (its `update_world`), in GAMA units.
fn agent_at(cycle: u64) -> (f64, f64) {
    let step = (cycle % 1000) as f64;
    (
        (100_000.0 + step * 1_000.0) / PRECISION,
        (200_000.0 + step * 500.0) / PRECISION,
    )
}

/// What the headsets sent, per player and `kind:name`, as the timeline counts it.
#[derive(Default)]
struct Sent(BTreeMap<String, BTreeMap<String, u64>>);

impl Sent {
    async fn ask(&mut self, h: &Headset, id: &str, action: &str) {
        h.ask(action, &[("id", id)]).await.unwrap();
        self.count(id, &format!("ask:{action}"));
    }

    async fn expression(&mut self, h: &Headset, id: &str, expr: &str) {
        h.expression(expr).await.unwrap();
        self.count(id, &format!("expression:{expr}"));
    }

    /// A headset's own position (`move_player_external`, × precision).
    async fn moved(&mut self, h: &Headset, id: &str, (x, y, angle): (i64, i64, i64)) {
        let (x, y, angle) = (x.to_string(), y.to_string(), angle.to_string());
        h.ask(
            "move_player_external",
            &[
                ("id", id),
                ("x", &x),
                ("y", &y),
                ("z", "17000"),
                ("angle", &angle),
            ],
        )
        .await
        .unwrap();
        self.count(id, "ask:move_player_external");
    }

    fn count(&mut self, id: &str, key: &str) {
        *self
            .0
            .entry(id.to_string())
            .or_default()
            .entry(key.to_string())
            .or_default() += 1;
    }

    fn of(&self, id: &str, prefix: &str) -> u64 {
        self.0[id]
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

/// An admin request with the token.
async fn api(relay: &TestRelay, method: reqwest::Method, path: &str) -> (u16, Value) {
    let r = relay
        .http
        .request(method, format!("{}{path}", relay.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls the session list until `pred` holds (sessions are written on a thread of their own).
async fn sessions_until(relay: &TestRelay, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = api(relay, reqwest::Method::GET, "/api/sessions").await;
        assert_eq!(status, 200, "{body}");
        if pred(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks the world view shows, as of the recording, the moving agent where `cycle` put it and the
/// players at `places` (× precision); returns the view.
async fn expect_world(
    browser: &mut Browser,
    what: &str,
    cycle: u64,
    places: &[(&str, (i64, i64, i64))],
) -> Value {
    let (ax, ay) = agent_at(cycle);
    let (px, py) = (
        places[0].1.0 as f64 / PRECISION,
        places[0].1.1 as f64 / PRECISION,
    );
    let first = places[0].0;
    let view = browser
        .wait_fn(
            &format!(
                "(() => {{ const s = {SNAPSHOT}; const a = s.agents.find((a) => a.name === 'agent0'); \
                 const p = s.players.find((p) => p.id === '{first}'); \
                 return s.mode === 'playback' && s.connected && a && Math.abs(a.x - {ax}) < 1e-6 && Math.abs(a.y - {ay}) < 1e-6 \
                 && p && Math.abs(p.x - {px}) < 1e-6 && Math.abs(p.y - {py}) < 1e-6 && s.players.length === {} && s; }})()",
                places.len()
            ),
            6000,
        )
        .await;
    let agent = view["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "agent0")
        .unwrap();
    close(f(&agent["x"]), ax, 1e-6, &format!("{what}: agent0's x"));
    close(f(&agent["y"]), ay, 1e-6, &format!("{what}: agent0's y"));
    assert!(
        view["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "block0" && a["static"] == true),
        "{what}: the background is drawn too: {view}"
    );
    for (id, (x, y, angle)) in places {
        let p = view["players"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == *id)
            .unwrap_or_else(|| panic!("{what}: no {id} in {view}"));
        close(
            f(&p["x"]),
            *x as f64 / PRECISION,
            1e-6,
            &format!("{what}: {id}'s x"),
        );
        close(
            f(&p["y"]),
            *y as f64 / PRECISION,
            1e-6,
            &format!("{what}: {id}'s y"),
        );
        close(
            f(&p["angle"]),
            *angle as f64 / PRECISION,
            1e-6,
            &format!("{what}: {id}'s angle"),
        );
    }
    view
}

/// A screenshot of what the screen shows with `selector` at its top, under the page's header.
async fn screen_at(browser: &mut Browser, selector: &str, name: &str) {
    browser
        .eval(&format!(
            "document.querySelector('{selector}').scrollIntoView({{block: 'start'}})"
        ))
        .await;
    // Painted after the scroll (and a resize just before) before it is taken.
    browser
        .eval("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))")
        .await;
    let path = target_dir().join(name);
    browser
        .call(json!({"cmd": "screenshot", "path": path, "full_page": false}))
        .await;
}

/// Session time of a moment inside the `nth` PAUSED span that follows a RUNNING one (0: the first
/// pause of the run), at `fraction` of it.
fn inside_pause(experiment: &Value, nth: usize, fraction: f64) -> (f64, f64, f64) {
    let spans = experiment.as_array().unwrap();
    let mut seen_running = false;
    let mut found = 0;
    for s in spans {
        if s["state"] == "RUNNING" {
            seen_running = true;
        } else if s["state"] == "PAUSED" && seen_running {
            if found == nth {
                let (from, to) = (f(&s["from"]), f(&s["to"]));
                return (from + (to - from) * fraction, from, to);
            }
            found += 1;
            seen_running = false;
        }
    }
    panic!("no pause #{nth} after a run in {experiment}");
}

/// The three players of the session, in order of arrival.
const IDS: [&str; 3] = ["A", "B", "C"];
/// Where the players stand during the first pause (× precision: x, y, angle).
const FIRST_PLACES: [(&str, (i64, i64, i64)); 3] = [
    ("A", (300_000, 650_000, 0)),
    ("B", (800_000, 200_000, -900_000)),
    ("C", (500_000, 400_000, 450_000)),
];
/// Where the players stand during the second pause.
const SECOND_PLACES: [(&str, (i64, i64, i64)); 3] = [
    ("A", (700_000, 300_000, 1_800_000)),
    ("B", (200_000, 600_000, 0)),
    ("C", (900_000, 700_000, -450_000)),
];

/// The session kept during the test: its id, and its item in the page's Sessions panel.
struct Kept {
    id: String,
    item: String,
}

/// Where the timeline is on the screen, and its scale: to point at a moment of it.
struct TimelineGeometry {
    /// The top left corner of its head (the experiment's row), in the viewport.
    head: (f64, f64),
    /// The top left corner of its body (the players' lanes), in the viewport.
    body: (f64, f64),
    duration: f64,
    label_px: f64,
    plot_px: f64,
}

impl TimelineGeometry {
    /// How far from the timeline's left edge session time `t` is drawn.
    fn x_of(&self, t: f64) -> f64 {
        self.label_px + t / self.duration * self.plot_px
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn a_kept_session_is_listed_drawn_as_a_timeline_and_played_back() {
    require_browser("a_kept_session_is_listed_drawn_as_a_timeline_and_played_back");
    let started = Instant::now();
    let (gama, relay) = a_relay_that_keeps_sessions().await;
    let a = relay.join("A").await;
    let b = relay.join("B").await;
    let c = relay.join("C").await;
    let mut browser = the_page_says_no_session_is_kept_yet(&relay).await;

    // The session, driven from the page while the headsets act.
    let kept =
        launched_from_the_page_a_session_is_kept_and_cannot_be_deleted(&mut browser, &relay).await;
    let intruder = a_laptop_claiming_a_s_id_waits(&relay).await;
    let mut sent = Sent::default();
    the_players_get_ready_and_the_page_resumes(&mut browser, &relay, &mut sent, [&a, &b, &c]).await;
    running_the_players_walk_and_act(&mut sent, &a, &b, &c).await;
    let first_cycle = paused_from_the_page(&mut browser, &relay, &gama).await;
    the_players_stand_at(&mut sent, [&a, &b, &c], FIRST_PLACES).await;
    let b = running_again_b_drops_and_comes_back(&mut browser, &relay, &mut sent, &a, b).await;
    let second_cycle = paused_from_the_page(&mut browser, &relay, &gama).await;
    assert!(
        second_cycle > first_cycle + 5,
        "the agent moved between the pauses: {first_cycle} → {second_cycle}"
    );
    the_players_stand_at(&mut sent, [&a, &b, &c], SECOND_PLACES).await;
    stopped_from_the_page_the_session_is_finished(&mut browser, &relay, &kept).await;
    recent_changes_say_what_was_done_from_where(&mut browser).await;

    // The kept session as a timeline and a table.
    let tl = the_finished_session_opens_as_a_timeline(&mut browser, &kept).await;
    the_lanes_show_each_player_s_states(&mut browser, &tl).await;
    the_table_counts_what_each_headset_sent(&mut browser, &sent).await;
    the_marks_are_the_actions_chosen(&mut browser, &tl, &sent).await;
    the_operator_s_changes_are_on_the_timeline(&mut browser, &tl).await;
    let geometry = hovering_a_lane_says_who_when_in_what_state(&mut browser, &tl).await;

    // Played back in the world view.
    a_click_on_the_timeline_shows_the_first_pause(&mut browser, &tl, &geometry, &kept, first_cycle)
        .await;
    the_scrubber_shows_the_second_pause(&mut browser, &tl, second_cycle).await;
    the_scrubber_s_keys_move_the_playback(&mut browser).await;
    following_b_in_the_recording(&mut browser).await;
    playing_from_the_start_the_timeline_s_cursor_follows(&mut browser).await;
    the_session_s_files_come_with_the_page_s_token(&mut browser, &kept).await;
    on_a_tablet_held_upright_and_in_dark_colours(&mut browser).await;
    back_to_live(&mut browser).await;
    deleted_once_confirmed(&mut browser, &relay, &kept).await;

    browser.assert_no_page_errors().await;
    browser.close().await;
    drop((a, b, c, intruder));
    eprintln!(
        "sessions test: {:.1} s; screenshots: target/admin-sessions*.png",
        started.elapsed().as_secs_f64()
    );
}

/// A fake GAMA stepping every 100 ms, and a relay connected to it that keeps sessions (five world
/// updates a second), with an admin token and no automatic launch.
async fn a_relay_that_keeps_sessions() -> (FakeGama, TestRelay) {
    let gama = FakeGama::start(FakeGamaOptions {
        cycle_ms: 100,
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.session.auto_launch = false;
            c.admin.token = TOKEN.into();
            c.sessions.world_updates_per_second = 5.0;
        })
        .start()
        .await;
    relay.wait_gama().await;
    (gama, relay)
}

/// The page, opened with the token: live, its Sessions panel empty.
async fn the_page_says_no_session_is_kept_yet(relay: &TestRelay) -> Browser {
    let mut browser = Browser::start().await;
    browser
        .open(&format!("{}/#token={TOKEN}", relay.base))
        .await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    browser
        .wait_text("#sessions-status", "No session kept yet")
        .await;
    browser
}

/// Launched from the page: a session is being kept, listed, and cannot be deleted yet.
async fn launched_from_the_page_a_session_is_kept_and_cannot_be_deleted(
    browser: &mut Browser,
    relay: &TestRelay,
) -> Kept {
    browser.click("#launch").await;
    relay.wait_experiment("PAUSED").await;
    relay.wait_in_game(&IDS).await;
    let listed = sessions_until(relay, "a session in progress", |b| b["current"].is_string()).await;
    let id = listed["current"].as_str().unwrap().to_string();
    let item = format!(r#"#sessions-list [data-session="{id}"]"#);
    browser
        .wait(&format!(
            r#"{item}[data-in-progress="true"] button[data-action="delete"][aria-disabled="true"]"#
        ))
        .await;
    let (status, body) = api(
        relay,
        reqwest::Method::DELETE,
        &format!("/api/sessions/{id}"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("session_in_progress"))
    );
    Kept { id, item }
}

/// A student's laptop claims A's id: it waits, and the page says so (see
/// [`recent_changes_say_what_was_done_from_where`]). Returns the laptop's connection.
async fn a_laptop_claiming_a_s_id_waits(relay: &TestRelay) -> Headset {
    let intruder = Headset::connect_from(relay.headset_addr(), "127.0.0.2".parse().unwrap())
        .await
        .unwrap();
    intruder.register("A").await.unwrap();
    intruder.recv_type("error", T).await.unwrap();
    intruder
}

/// Each headset asks for its first data and the geometries; the page follows A and resumes.
async fn the_players_get_ready_and_the_page_resumes(
    browser: &mut Browser,
    relay: &TestRelay,
    sent: &mut Sent,
    headsets: [&Headset; 3],
) {
    for (h, id) in headsets.into_iter().zip(IDS) {
        sent.ask(h, id, "send_init_data").await;
        sent.ask(h, id, "player_ready_to_receive_geometries").await;
    }
    browser.select("#world-player", "A").await;
    browser.click("#resume").await;
    relay.wait_experiment("RUNNING").await;
}

/// Running: the players walk and act.
async fn running_the_players_walk_and_act(sent: &mut Sent, a: &Headset, b: &Headset, c: &Headset) {
    for step in 0..4i64 {
        sent.moved(a, "A", (200_000 + step * 20_000, 600_000, 0))
            .await;
        sent.moved(b, "B", (700_000, 100_000 + step * 20_000, -900_000))
            .await;
        sent.moved(c, "C", (400_000 + step * 10_000, 400_000, 450_000))
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        sent.ask(a, "A", "plant_tree").await;
    }
    sent.expression(a, "A", "do hello($id);").await;
    sent.ask(b, "B", "harvest").await;
    sent.ask(b, "B", "harvest").await;
    sent.ask(b, "B", "plant_tree").await;
    sent.expression(c, "C", "do hello($id);").await;
    sent.expression(c, "C", "do hello($id);").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
}

/// Paused from the page: the agent stops. Returns GAMA's cycle then (where the agent stands).
async fn paused_from_the_page(browser: &mut Browser, relay: &TestRelay, gama: &FakeGama) -> u64 {
    browser.click("#pause").await;
    relay.wait_experiment("PAUSED").await;
    gama.cycle()
}

/// While paused, the players go to known `places` and stay there a while.
async fn the_players_stand_at(
    sent: &mut Sent,
    headsets: [&Headset; 3],
    places: [(&str, (i64, i64, i64)); 3],
) {
    for (h, (id, place)) in headsets.into_iter().zip(places) {
        sent.moved(h, id, place).await;
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
}

/// Running again; B drops off the network and comes back (its new connection is returned), then B
/// and A act.
async fn running_again_b_drops_and_comes_back(
    browser: &mut Browser,
    relay: &TestRelay,
    sent: &mut Sent,
    a: &Headset,
    b: Headset,
) -> Headset {
    browser.click("#resume").await;
    relay.wait_experiment("RUNNING").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.abort();
    relay.wait_disconnected("B").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = relay.join("B").await;
    relay.wait_in_game(&IDS).await;
    sent.ask(&b, "B", "harvest").await;
    sent.ask(a, "A", "plant_tree").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    b
}

/// Stopped from the page (it asks first): the session is listed, finished.
async fn stopped_from_the_page_the_session_is_finished(
    browser: &mut Browser,
    relay: &TestRelay,
    kept: &Kept,
) {
    browser.click("#stop").await;
    browser.click("#confirm-ok").await;
    relay.wait_experiment("NONE").await;
    let listed = sessions_until(relay, "the session is finished", |b| {
        b["sessions"]
            .as_array()
            .is_some_and(|s| s.len() == 1 && s[0]["in_progress"] == false && b["current"].is_null())
    })
    .await;
    assert_eq!(listed["sessions"][0]["id"], kept.id.as_str());
}

/// Recent changes: what was done from the page, from where, and the laptop turned away.
async fn recent_changes_say_what_was_done_from_where(browser: &mut Browser) {
    browser.wait_text("#audit-list", "stop").await;
    browser.click("#audit-more").await;
    let changes = browser
        .eval("[...document.querySelectorAll('#audit-list .audit-entry')].map((li) => [li.querySelector('.audit-action').textContent, li.querySelector('.audit-source').textContent, li.dataset.ok])")
        .await;
    for action in ["launch", "resume", "pause", "stop"] {
        assert!(
            changes
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c[0] == action && c[1] == "127.0.0.1 · admin page" && c[2] == "true"),
            "{action} from 127.0.0.1 is not in the recent changes: {changes}"
        );
    }
    assert_eq!(
        changes[0][0], "stop",
        "the newest change comes first: {changes}"
    );
    browser
        .wait_text("#refusals-list", "A from 127.0.0.2")
        .await;
    browser
        .wait_text(
            "#refusals-list",
            "A is already used by a headset at 127.0.0.1: this headset waits until it leaves.",
        )
        .await;
    browser
        .screenshot_of("#audit-card", "admin-sessions-changes.png")
        .await;
}

/// The panel lists the finished session; it opens as a timeline (returned as the page drew it).
async fn the_finished_session_opens_as_a_timeline(browser: &mut Browser, kept: &Kept) -> Value {
    let item = &kept.item;
    browser
        .wait(&format!(r#"{item}[data-in-progress="false"]"#))
        .await;
    browser.wait_text(item, "Demo").await;
    browser
        .click(&format!(r#"{item} button[data-action="open"]"#))
        .await;
    browser.wait("#session-table").await;
    browser.wait_fn(&format!("{SESSIONS}.timeline"), 5000).await
}

/// The spans drawn in `player`'s lane, as `[state, from, to]` (a JS expression).
fn drawn_states(player: &str) -> String {
    format!(
        "[...document.querySelectorAll('#timeline .tl-lane[data-player=\"{player}\"] rect.tl-span')].map((r) => [r.dataset.state, +r.dataset.from, +r.dataset.to])"
    )
}

/// One lane per player, in order of arrival; B's shows its drop and its return to the game; each
/// is drawn as the server said, and the legend names the states drawn.
async fn the_lanes_show_each_player_s_states(browser: &mut Browser, tl: &Value) {
    let lanes: Vec<&str> = tl["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["player"].as_str().unwrap())
        .collect();
    assert_eq!(lanes, IDS);
    let b_spans = browser.eval(&drawn_states("B")).await;
    let b_spans = b_spans.as_array().unwrap();
    let dropped = b_spans
        .iter()
        .position(|s| s[0] == "disconnected")
        .unwrap_or_else(|| panic!("no disconnection drawn for B: {b_spans:?}"));
    assert!(
        b_spans[dropped + 1..].iter().any(|s| s[0] == "in_game"),
        "B is drawn back in the game after its drop: {b_spans:?}"
    );
    let a_spans = browser.eval(&drawn_states("A")).await;
    assert!(
        a_spans
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s[0] != "disconnected"),
        "{a_spans}"
    );
    // Drawn as the server said, span for span.
    for (lane, player) in tl["lanes"].as_array().unwrap().iter().zip(IDS) {
        let drawn = browser.eval(&drawn_states(player)).await;
        let expected: Vec<Value> = lane["spans"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] != "gone")
            .map(|s| json!([s["state"], s["from"], s["to"]]))
            .collect();
        assert_eq!(drawn, json!(expected), "{player}'s lane");
    }
    // The legend names the states drawn, with the tiles' words.
    browser
        .wait_text(
            r#".tl-legend li[data-state="disconnected"]"#,
            "Disconnected",
        )
        .await;
    browser
        .wait_text(r#".tl-legend li[data-state="in_game"]"#, "In game")
        .await;
}

/// The table counts what each headset sent, action by action, and sums it up.
async fn the_table_counts_what_each_headset_sent(browser: &mut Browser, sent: &Sent) {
    let table = browser
        .eval("Object.fromEntries([...document.querySelectorAll('#session-table tbody tr')].map((tr) => [tr.dataset.player, Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.action ?? td.dataset.col, td.textContent]))]))")
        .await;
    for (player, counts) in &sent.0 {
        for (key, n) in counts {
            assert_eq!(
                table[player][key],
                n.to_string(),
                "{player}'s {key} in the table: {table}"
            );
        }
        assert_eq!(table[player]["asks"], sent.of(player, "ask:").to_string());
        assert_eq!(
            table[player]["expressions"],
            sent.of(player, "expression:").to_string()
        );
    }
    assert_eq!(table["B"]["disconnections"], "1");
    assert_eq!(table["A"]["disconnections"], "0");
    let plant_total: u64 = sent
        .0
        .values()
        .filter_map(|c| c.get("ask:plant_tree"))
        .sum();
    assert_eq!(
        browser
            .eval(r#"document.querySelector('#session-table tfoot td[data-action="ask:plant_tree"]').textContent"#)
            .await,
        plant_total.to_string()
    );
}

/// How many marks the timeline `tl` draws in `player`'s lane.
fn marks_of(tl: &Value, player: &str) -> u64 {
    tl["drawn"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["player"] == player)
        .unwrap()["marks"]
        .as_u64()
        .unwrap()
}

/// The marks: every action but movement, by default; movement too when asked, or one action.
async fn the_marks_are_the_actions_chosen(browser: &mut Browser, tl: &Value, sent: &Sent) {
    for player in IDS {
        let all: u64 = sent.0[player].values().sum();
        let moves = sent.0[player]["ask:move_player_external"];
        assert_eq!(marks_of(tl, player), all - moves, "{player}'s marks");
        assert_eq!(
            browser
                .eval(&format!("+document.querySelector('#timeline .tl-lane[data-player=\"{player}\"] .tl-marks').dataset.count"))
                .await,
            json!(all - moves)
        );
    }
    browser.select("#timeline-marks", "all").await;
    let every = browser.eval(&format!("{SESSIONS}.timeline")).await;
    assert_eq!(marks_of(&every, "A"), sent.0["A"].values().sum::<u64>());
    browser.select("#timeline-marks", "ask:harvest").await;
    let harvest = browser.eval(&format!("{SESSIONS}.timeline")).await;
    assert_eq!((marks_of(&harvest, "A"), marks_of(&harvest, "B")), (0, 3));
    browser.select("#timeline-marks", "noMoves").await;
}

/// The operator's changes are on the timeline, with their source, and so are the experiment's
/// pauses and GAMA's pace. (The launch that started the session is written down before GAMA
/// reports the new run, which starts the session: not in it.)
async fn the_operator_s_changes_are_on_the_timeline(browser: &mut Browser, tl: &Value) {
    let audit = &tl["audit"];
    for action in ["pause", "resume", "stop"] {
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["action"] == action && a["source"] == "127.0.0.1"),
            "{action} in the session's changes: {audit}"
        );
    }
    assert!(browser.count("#timeline .tl-change-mark").await >= 3);
    assert!(
        browser
            .count(r#"#timeline rect.tl-exp-span[data-state="PAUSED"]"#)
            .await
            >= 2
    );
    assert!(browser.count("#timeline .tl-pace").await == 1);
}

/// Hovering a lane says who, when, in what state. Returns where the timeline is on the screen.
async fn hovering_a_lane_says_who_when_in_what_state(
    browser: &mut Browser,
    tl: &Value,
) -> TimelineGeometry {
    browser
        .eval("[document.querySelector('#message-close').click(), document.querySelector('#session-view').scrollIntoView({block: 'start'})]")
        .await;
    let geometry = browser
        .eval("(() => { const h = document.querySelector('#timeline .tl-head').getBoundingClientRect(); const b = document.querySelector('#timeline .tl-body').getBoundingClientRect(); return {head: [h.left, h.top], body: [b.left, b.top]}; })()")
        .await;
    let geometry = TimelineGeometry {
        head: (f(&geometry["head"][0]), f(&geometry["head"][1])),
        body: (f(&geometry["body"][0]), f(&geometry["body"][1])),
        duration: f(&tl["duration"]),
        label_px: f(&tl["labelPx"]),
        plot_px: f(&tl["plotPx"]),
    };
    let (first_t, _, _) = inside_pause(&tl["experiment"], 0, 0.7);
    let (hx, hy) = (
        geometry.body.0 + geometry.x_of(first_t),
        geometry.body.1 + 24.0 + 8.0,
    );
    browser.mouse("move", hx, hy, 0.0).await;
    browser.wait_text("#timeline .tl-tip", "B · ").await;
    browser.wait_text("#timeline .tl-tip", "In game").await;
    let path = target_dir().join("admin-sessions-timeline.png");
    browser
        .call(json!({"cmd": "screenshot", "path": path, "full_page": false}))
        .await;
    browser.screenshot("admin-sessions-page.png").await;
    browser
        .eval("document.querySelector('#session-view').scrollIntoView({block: 'start'})")
        .await;
    geometry
}

/// A click on the timeline, inside the first pause, shows that moment in the world view: the
/// agent where GAMA's `cycle` put it, the players at [`FIRST_PLACES`], A's trail, the words of a
/// recording and the timeline's cursor where the view is.
async fn a_click_on_the_timeline_shows_the_first_pause(
    browser: &mut Browser,
    tl: &Value,
    geometry: &TimelineGeometry,
    kept: &Kept,
    cycle: u64,
) {
    let (first_t, first_from, first_to) = inside_pause(&tl["experiment"], 0, 0.7);
    let (cx, cy) = (
        geometry.head.0 + geometry.x_of(first_t),
        geometry.head.1 + 22.0 + 2.0 + 9.0,
    );
    browser.mouse("down", cx, cy, 0.0).await;
    browser.mouse("up", cx, cy, 0.0).await;
    let view = expect_world(browser, "the first pause", cycle, &FIRST_PLACES).await;
    let t = f(&view["playback"]["t"]);
    assert!(
        t > first_from && t < first_to,
        "the click went to {t}, not inside the pause {first_from}..{first_to}"
    );
    close(
        t,
        first_t,
        geometry.duration / geometry.plot_px * 2.0,
        "where the click seeks",
    );
    assert_eq!(view["player"], "A");
    assert_eq!(view["playback"]["id"], kept.id.as_str());
    assert_eq!(view["playback"]["playing"], false);
    // A walked there: its trail leads from where it went before to where it stands.
    let a_now = view["players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "A")
        .unwrap();
    let trail = a_now["trail"].as_array().unwrap();
    assert!(trail.len() >= 2, "A's trail: {a_now}");
    assert_eq!(
        trail[0],
        json!([20, 60]),
        "A's trail starts where it walked: {a_now}"
    );
    assert_eq!(trail[trail.len() - 1], json!([30, 65]));
    // The recording says so, in words, and the timeline's cursor is where the view is.
    browser.wait("#playback:not([hidden])").await;
    browser.wait_text("#playback", "Playback of Demo").await;
    browser.wait_text("#playback", "Recording, not live").await;
    browser
        .wait(r#"#world-status[data-state="playback"]"#)
        .await;
    browser
        .wait_fn(
            &format!(
                "+document.querySelector('#timeline .tl-cursor').dataset.t === {}",
                t.round()
            ),
            3000,
        )
        .await;
    screen_at(browser, "#world-card", "admin-sessions-playback.png").await;
}

/// The scrubber: inside the second pause, the agent further on (where GAMA's `cycle` put it), the
/// players at [`SECOND_PLACES`]. (The scrubber moves by tenths of a second.)
async fn the_scrubber_shows_the_second_pause(browser: &mut Browser, tl: &Value, cycle: u64) {
    let (second_t, _, _) = inside_pause(&tl["experiment"], 1, 0.7);
    let second_t = (second_t / 100.0).round() * 100.0;
    browser
        .eval(&format!(
            "(() => {{ const s = document.querySelector('#playback-scrubber'); s.value = '{}'; \
             s.dispatchEvent(new Event('input', {{bubbles: true}})); s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
            second_t.round()
        ))
        .await;
    let view = expect_world(browser, "the second pause", cycle, &SECOND_PLACES).await;
    close(
        f(&view["playback"]["t"]),
        second_t.round(),
        1.0,
        "the scrubber's seek",
    );
    browser
        .wait_fn(
            &format!(
                "+document.querySelector('#timeline .tl-cursor').dataset.t === {}",
                second_t.round()
            ),
            3000,
        )
        .await;
}

/// The scrubber's keys: Home goes to the start, an arrow 5 s on.
async fn the_scrubber_s_keys_move_the_playback(browser: &mut Browser) {
    playback_to_start(browser).await;
    browser.press("ArrowRight").await;
    browser
        .wait_fn(&format!("{SNAPSHOT}.playback.t === 5000"), 3000)
        .await;
    browser
        .wait_fn(
            "document.querySelector('#playback-scrubber').getAttribute('aria-valuetext').startsWith('0:05 of ')",
            3000,
        )
        .await;
}

/// Following B in the recording, then A again.
async fn following_b_in_the_recording(browser: &mut Browser) {
    browser.select("#world-player", "B").await;
    browser
        .wait_fn(
            &format!("(() => {{ const s = {SNAPSHOT}; return s.player === 'B' && s.connected && s.players.length === 3 && s.playback.t === 5000; }})()"),
            5000,
        )
        .await;
    browser.select("#world-player", "A").await;
}

/// Playing from the start at ×4, then ×16 to the end; the timeline's cursor follows.
async fn playing_from_the_start_the_timeline_s_cursor_follows(browser: &mut Browser) {
    playback_to_start(browser).await;
    browser
        .click(r#"#playback .playback-speed button[data-speed="4"]"#)
        .await;
    browser.click("#playback-toggle").await;
    let playing = browser
        .wait_fn(
            &format!("(() => {{ const p = {SNAPSHOT}.playback; return p.playing && p.speed === 4 && p.t > 1500 && p; }})()"),
            5000,
        )
        .await;
    let cursor = browser
        .eval("+document.querySelector('#timeline .tl-cursor').dataset.t")
        .await;
    assert!(
        f(&cursor) > 1000.0 && f(&cursor) <= f(&playing["duration"]),
        "the timeline's cursor did not follow the playback: {cursor} ({playing})"
    );
    browser.wait_text("#playback-toggle", "Pause").await;
    browser
        .click(r#"#playback .playback-speed button[data-speed="16"]"#)
        .await;
    let ended = browser
        .wait_fn(
            &format!(
                "(() => {{ const p = {SNAPSHOT}.playback; return !p.playing && p.ended && p; }})()"
            ),
            8000,
        )
        .await;
    assert_eq!(ended["t"], ended["duration"]);
    browser.wait_text("#playback-toggle", "Play again").await;
    browser
        .wait_text("#world-status", "end of the recording")
        .await;
}

/// The session's files and its table download, with the token the page holds.
async fn the_session_s_files_come_with_the_page_s_token(browser: &mut Browser, kept: &Kept) {
    let id = &kept.id;
    let links = browser
        .eval("(async () => { const get = async (sel) => { const a = document.querySelector(sel); const r = await fetch(a.href); const b = await r.arrayBuffer(); return [a.getAttribute('href'), r.status, r.headers.get('content-type'), new TextDecoder().decode(b.slice(0, 80))]; }; return [await get('#session-csv'), await get('#sessions-list [data-action=\"download\"]')]; })()")
        .await;
    let (csv, tar) = (&links[0], &links[1]);
    assert!(
        csv[0]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/sessions/{id}/summary.csv?token={TOKEN}")),
        "{csv}"
    );
    assert_eq!(csv[1], 200, "{csv}");
    assert!(
        csv[3]
            .as_str()
            .unwrap()
            .starts_with("player,in_game_seconds,asks,expressions,disconnections"),
        "{csv}"
    );
    assert_eq!(
        (&tar[1], &tar[2]),
        (&json!(200), &json!("application/x-tar")),
        "{tar}"
    );
}

/// A tablet held upright (no sideways scrolling), and dark colours: screenshots of the timeline and
/// the playback in each; then back to a laptop's window in light colours.
async fn on_a_tablet_held_upright_and_in_dark_colours(browser: &mut Browser) {
    browser.viewport(820, 1180).await;
    browser
        .wait_fn(&format!("{SESSIONS}.timeline.width < 800"), 3000)
        .await;
    assert_eq!(
        browser.horizontal_overflow().await,
        0,
        "the page scrolls sideways on a tablet"
    );
    screen_at(browser, "#session-view", "admin-sessions-tablet.png").await;
    screen_at(browser, "#world-card", "admin-sessions-playback-tablet.png").await;
    browser
        .call(json!({"cmd": "color_scheme", "value": "dark"}))
        .await;
    screen_at(browser, "#session-view", "admin-sessions-dark.png").await;
    screen_at(browser, "#world-card", "admin-sessions-playback-dark.png").await;
    browser
        .call(json!({"cmd": "color_scheme", "value": "light"}))
        .await;
    browser.viewport(1280, 800).await;
}

/// Back to live: the live view of the first player in game again; the timeline's cursor hidden.
async fn back_to_live(browser: &mut Browser) {
    browser.click("#playback-live").await;
    browser.wait_hidden("#playback").await;
    browser
        .wait_fn(
            &format!("(() => {{ const s = {SNAPSHOT}; return s.mode === 'live' && s.playback === null && s; }})()"),
            3000,
        )
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('#timeline .tl-cursor').getAttribute('visibility')")
            .await,
        "hidden"
    );
}

/// Deleted from the panel, once confirmed: gone from the page and the relay, and in the recent
/// changes.
async fn deleted_once_confirmed(browser: &mut Browser, relay: &TestRelay, kept: &Kept) {
    let (id, item) = (&kept.id, &kept.item);
    browser
        .click(&format!(r#"{item} button[data-action="delete"]"#))
        .await;
    browser.wait("#confirm[open]").await;
    browser.click("#confirm-ok").await;
    browser.wait_gone(item).await;
    browser.wait_hidden("#session-view").await;
    sessions_until(relay, "the session is deleted", |b| {
        b["sessions"].as_array().is_some_and(|s| s.is_empty())
    })
    .await;
    browser
        .wait_text("#audit-list", &format!("delete session {id}"))
        .await;
}

// -------------------------------------------------------------------------------------------------
// An hour with forty players
// -------------------------------------------------------------------------------------------------

/// What was sent, per player and `kind:name`.
type SentCounts = BTreeMap<String, BTreeMap<String, u64>>;

/// The length of the classroom's hour, in ms.
const HOUR: u64 = 3_600_000;
/// When its experiment stops (ms).
const STOP: u64 = HOUR - 10_000;

/// The lines of a session's timeline file, each at its time `t` (ms), in the order written.
#[derive(Default)]
struct TimelineFile(Vec<(u64, String)>);

impl TimelineFile {
    fn line(&mut self, t: u64, body: Value) {
        let mut v = body;
        v["t"] = json!(t);
        self.0.push((t, v.to_string()));
    }

    /// The file's text: its lines in order of time (those at the same time in the order written).
    fn text(mut self) -> String {
        self.0.sort_by_key(|(t, _)| *t);
        self.0.into_iter().map(|(_, l)| l + "\n").collect()
    }
}

/// Writes a kept session to `folder` as the relay's writer lays it out (src/history/kept/write/):
/// its summary, its timeline file (all the timeline is read from) and an empty data file. An hour of a
/// classroom of `players`: they arrive, some drop for a while, wait for a slot or are refused; each
/// moves every second and now and then acts; the experiment pauses every quarter of an hour.
/// Returns what it wrote per player and `kind:name`.
fn write_classroom_session(folder: &std::path::Path, id: &str, players: usize) -> SentCounts {
    std::fs::create_dir_all(folder).unwrap();
    let ids: Vec<String> = (0..players)
        .map(|i| format!("Player_{}", 101 + i))
        .collect();
    let mut file = TimelineFile::default();
    let pauses = the_experiment_pauses_every_quarter_of_an_hour(&mut file);
    let away = the_players_arrive_and_some_are_away(&mut file, &ids);
    let sent = every_second_the_players_in_game_act(&mut file, &ids, &away, &pauses);
    the_operator_s_changes(&mut file, &pauses);
    let timeline = file.text();
    std::fs::write(folder.join(format!("{id}.timeline.jsonl")), &timeline).unwrap();
    std::fs::write(folder.join(format!("{id}.zst")), b"").unwrap();
    let info = json!({
        "format": "gama-vr-relay session", "version": 1, "id": id, "model": "Forest",
        "experiment": "vr_xp", "started": "2026-11-21T10:00:00Z", "ended": "2026-11-21T11:00:00Z",
        "duration_ms": HOUR, "players": ids, "bytes": timeline.len(),
        "world_updates_per_second": 5.0, "in_progress": false, "chunks": [],
    });
    std::fs::write(folder.join(format!("{id}.json")), info.to_string()).unwrap();
    sent
}

/// The experiment: loading, paused, running, a minute's pause every quarter of an hour, stopped.
/// Returns the pauses, (from, to).
fn the_experiment_pauses_every_quarter_of_an_hour(file: &mut TimelineFile) -> Vec<(u64, u64)> {
    file.line(0, json!({"exp": "NOTREADY"}));
    file.line(1_500, json!({"exp": "PAUSED"}));
    file.line(15_000, json!({"exp": "RUNNING"}));
    let pauses: Vec<(u64, u64)> = (1..4)
        .map(|q| (q * 900_000, q * 900_000 + 60_000))
        .collect();
    for (from, to) in &pauses {
        file.line(*from, json!({"exp": "PAUSED"}));
        file.line(*to, json!({"exp": "RUNNING"}));
    }
    file.line(STOP, json!({"exp": "NONE"}));
    pauses
}

/// The players' states: they arrive one after the other; one is refused for a minute, the last
/// three wait for a slot until half past, every seventh drops for 45 s, one does not answer for a
/// while. Returns, per player, the (from, to) of its absences, waits and refusals.
fn the_players_arrive_and_some_are_away(
    file: &mut TimelineFile,
    ids: &[String],
) -> Vec<Vec<(u64, u64)>> {
    let players = ids.len();
    let mut away = vec![Vec::new(); players];
    for (i, id) in ids.iter().enumerate() {
        let join = 3_000 + i as u64 * 300;
        let state = |t: u64, s: &str| json!({"player": {"id": id, "state": s}, "t": t});
        let mut put = |t: u64, s: &str| file.line(t, state(t, s));
        put(join, "connected");
        put(join + 200, "joining");
        if i == 25 {
            put(join + 600, "refused");
            away[i].push((join + 600, join + 60_600));
            put(join + 60_600, "joining");
            put(join + 61_000, "in_game");
        } else if i + 3 >= players {
            put(join + 600, "waiting");
            away[i].push((join + 600, 1_800_000));
            put(1_800_000, "in_game");
        } else {
            put(join + 600, "in_game");
        }
        if i % 7 == 3 {
            let at = 600_000 + i as u64 * 10_000;
            put(at, "disconnected");
            put(at + 45_000, "in_game");
            away[i].push((at, at + 45_000));
        }
        if i == 20 {
            put(1_200_000, "no_answer");
            put(1_220_000, "in_game");
        }
        put(STOP, "connected");
    }
    away
}

/// Every second, what each player in game (not `away`) did, and GAMA's pace (none during the
/// `pauses`). Returns what the players sent.
fn every_second_the_players_in_game_act(
    file: &mut TimelineFile,
    ids: &[String],
    away: &[Vec<(u64, u64)>],
    pauses: &[(u64, u64)],
) -> SentCounts {
    let mut sent = SentCounts::new();
    for s in 15..(STOP / 1000) {
        let t = s * 1000;
        let mut acts = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let join = 3_000 + i as u64 * 300 + 600;
            if t < join || away[i].iter().any(|(a, b)| t >= *a && t < *b) {
                continue;
            }
            let mut act = |kind: &str, name: &str, n: u64| {
                acts.push(json!([id, kind, name, n]));
                *sent
                    .entry(id.clone())
                    .or_default()
                    .entry(format!("{kind}:{name}"))
                    .or_default() += n;
            };
            act("ask", "move_player_external", 4);
            if (s + i as u64) % 37 == 0 {
                act("ask", "plant_tree", 1);
            }
            if (s * 3 + i as u64) % 53 == 0 {
                act("ask", "harvest", 2);
            }
            if (s + i as u64 * 11) % 301 == 0 {
                act("expression", "do hello($id);", 1);
            }
        }
        file.line(t, json!({"acts": acts}));
        let paused = pauses.iter().any(|(a, b)| t >= *a && t < *b);
        let pace = if paused {
            0.0
        } else {
            9.5 + 3.0 * (s as f64 / 120.0).sin()
        };
        file.line(t, json!({"pace": (pace * 100.0f64).round() / 100.0}));
    }
    sent
}

/// The operator's changes: the `pauses`, a removal GAMA could not do, the stop.
fn the_operator_s_changes(file: &mut TimelineFile, pauses: &[(u64, u64)]) {
    let change = |action: &str, ok: bool| {
        let mut e = json!({"at": "2026-11-21T10:00:00Z", "source": "10.0.0.5", "via": "admin", "action": action, "ok": ok});
        if !ok {
            e["detail"] = json!("GAMA is not connected");
        }
        json!({ "audit": e })
    };
    for (from, to) in pauses {
        file.line(from - 200, change("pause", true));
        file.line(to - 200, change("resume", true));
    }
    file.line(2_000_000, change("remove Player_120", false));
    file.line(2_000_300, change("console: cycle", true));
    file.line(STOP - 100, change("stop", true));
}

/// Boxes of the timeline's text that overlap another of the same kind, and labels that run into
/// the plot.
const OVERLAPS: &str = "(() => {
  const boxes = (sel) => [...document.querySelectorAll(sel)].map((e) => e.getBoundingClientRect());
  const overlaps = (list) => {
    const out = [];
    for (let i = 0; i < list.length; i += 1)
      for (let j = i + 1; j < list.length; j += 1) {
        const a = list[i];
        const b = list[j];
        if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) out.push([i, j]);
      }
    return out;
  };
  const t = window.sessionsView.snapshot().timeline;
  const plotLeft = document.querySelector('#timeline .tl-body').getBoundingClientRect().left + t.labelPx;
  const labels = boxes('#timeline .tl-lane-label, #timeline .tl-row-label, #timeline .tl-row-sub');
  return {
    lanes: overlaps(boxes('#timeline .tl-lane-label')),
    rows: overlaps(boxes('#timeline .tl-row-label, #timeline .tl-row-sub')),
    ticks: overlaps(boxes('#timeline .tl-tick')),
    words: overlaps(boxes('#timeline .tl-span-word')),
    into_plot: labels.filter((b) => b.right > plotLeft + 0.5).length,
    elements: document.querySelectorAll('#timeline *').length,
    lanes_drawn: document.querySelectorAll('#timeline .tl-lane').length,
  };
})()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn an_hour_with_forty_players_stays_readable() {
    require_browser("an_hour_with_forty_players_stays_readable");
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await.unwrap();
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.session.auto_launch = false;
            c.admin.token = TOKEN.into();
        })
        .start()
        .await;
    let id = "20261121-100000-Forest";
    let sent = write_classroom_session(&relay.packages.path().join("sessions"), id, 40);
    let mut browser = Browser::start().await;
    the_hour_opens_from_the_panel(&mut browser, &relay, id).await;
    for (width, height, shot) in [
        (1280, 800, "admin-sessions-hour.png"),
        (820, 1180, "admin-sessions-hour-tablet.png"),
    ] {
        the_timeline_is_readable_and_quick_at(&mut browser, (width, height), shot).await;
    }
    browser.viewport(1280, 800).await;
    every_line_of_the_table_and_every_lane_says_what_its_player_sent(&mut browser, &sent).await;
    // A failed operator change is marked as such.
    assert_eq!(
        browser
            .count(r#"#timeline .tl-change-mark[data-failed="true"]"#)
            .await,
        1
    );
    browser.assert_no_page_errors().await;
    browser.close().await;
}

/// The page, opened with the token, lists the hour `id` (its model, length and players) and opens
/// it (the time it takes is logged).
async fn the_hour_opens_from_the_panel(browser: &mut Browser, relay: &TestRelay, id: &str) {
    browser
        .open(&format!("{}/#token={TOKEN}", relay.base))
        .await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    let item = format!(r#"#sessions-list [data-session="{id}"]"#);
    browser.wait_text(&item, "Forest").await;
    browser.wait_text(&item, "1 h 0 min").await;
    browser.wait_text(&item, "40 players").await;
    let opened = Instant::now();
    browser
        .click(&format!(r#"{item} button[data-action="open"]"#))
        .await;
    browser.wait("#session-table").await;
    eprintln!(
        "an hour of 40 players opened in {} ms (fetch, parse and draw)",
        opened.elapsed().as_millis()
    );
}

/// In a window of `width` × `height`: the 40 lanes are drawn without overlapping text, in a few
/// thousand elements at most, redrawn quickly, without sideways scrolling; screenshot `shot`.
async fn the_timeline_is_readable_and_quick_at(
    browser: &mut Browser,
    (width, height): (u32, u32),
    shot: &str,
) {
    browser.viewport(width, height).await;
    browser
        .wait_fn(
            &format!("(() => {{ const t = {SESSIONS}.timeline; return t && Math.abs(t.width - document.querySelector('#timeline .tl-lanes').clientWidth) < 2; }})()"),
            3000,
        )
        .await;
    let layout = browser.eval(OVERLAPS).await;
    assert_eq!(layout["lanes_drawn"], 40, "{width} px: {layout}");
    for kind in ["lanes", "rows", "ticks", "words"] {
        assert_eq!(
            layout[kind],
            json!([]),
            "{width} px: {kind} overlap: {layout}"
        );
    }
    assert_eq!(
        layout["into_plot"], 0,
        "{width} px: labels run into the plot: {layout}"
    );
    // Summed into bins: a few thousand elements at most, whatever the length.
    assert!(
        layout["elements"].as_u64().unwrap() < 3000,
        "{width} px: {layout}"
    );
    // Redrawing it (another choice of marks) is quick.
    let ms = browser
        .eval("(() => { const s = document.querySelector('#timeline-marks'); const t0 = performance.now(); s.value = 'all'; s.dispatchEvent(new Event('change')); s.value = 'noMoves'; s.dispatchEvent(new Event('change')); return (performance.now() - t0) / 2; })()")
        .await;
    eprintln!("{width} px: {layout}; a redraw takes {:.1} ms", f(&ms));
    assert!(f(&ms) < 400.0, "{width} px: a redraw takes {ms} ms");
    browser
        .eval("document.querySelector('#message-close').click()")
        .await;
    browser
        .eval("document.querySelector('#session-view').scrollIntoView({block: 'start'})")
        .await;
    browser
        .call(json!({"cmd": "screenshot", "path": target_dir().join(shot), "full_page": false}))
        .await;
    assert_eq!(
        browser.horizontal_overflow().await,
        0,
        "{width} px: the page scrolls sideways"
    );
}

/// Every player's line in the table says what it sent, and its lane's marks count every action
/// but movement.
async fn every_line_of_the_table_and_every_lane_says_what_its_player_sent(
    browser: &mut Browser,
    sent: &SentCounts,
) {
    let table = browser
        .eval("Object.fromEntries([...document.querySelectorAll('#session-table tbody tr')].map((tr) => [tr.dataset.player, Object.fromEntries([...tr.querySelectorAll('td[data-action]')].map((td) => [td.dataset.action, td.textContent]))]))")
        .await;
    assert_eq!(table.as_object().unwrap().len(), 40);
    for (player, counts) in sent {
        for (key, n) in counts {
            assert_eq!(table[player][key], n.to_string(), "{player} {key}");
        }
    }
    // The marks of the lanes: every action but movement.
    let tl = browser.eval(&format!("{SESSIONS}.timeline")).await;
    for d in tl["drawn"].as_array().unwrap() {
        let player = d["player"].as_str().unwrap();
        let expected: u64 = sent[player]
            .iter()
            .filter(|(k, _)| *k != "ask:move_player_external")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(d["marks"], expected, "{player}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_panel_says_when_no_session_is_kept() {
    require_browser("the_panel_says_when_no_session_is_kept");
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await.unwrap();
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.session.auto_launch = false;
            c.sessions.enabled = false;
        })
        .start()
        .await;
    let mut browser = Browser::start().await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    browser
        .wait_text("#sessions-status", "sessions.enabled = false")
        .await;
    assert_eq!(browser.count("#sessions-list li").await, 0);
    browser.assert_no_page_errors().await;
    browser.close().await;
}

/// With the keyboard on the scrubber, Home: the playback is back at its start.
async fn playback_to_start(browser: &mut Browser) {
    browser.focus("#playback-scrubber").await;
    browser.press("Home").await;
    browser
        .wait_fn(&format!("{SNAPSHOT}.playback.t === 0"), 3000)
        .await;
}
