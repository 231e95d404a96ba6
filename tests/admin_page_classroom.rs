//! The admin page holding a whole classroom, in the system's headless Chromium (see
//! `tests/browser/harness.rs`): 40 simulated headsets in game while the fake GAMA sends every one
//! of them a world update 20 times a second, on a tablet held upright (820×1180) and on a laptop
//! (1280×800). Every player fits on one screen, players that need attention come first, a player
//! is found by its id, the controls stay at hand after scrolling, rates show from the first second,
//! output that goes on while paused is said as such, and the page's own CPU stays low.
//!
//! Screenshots: `target/admin-classroom-*.png`. The page's scripting time per second is printed
//! (`cargo test --test admin_page_classroom -- --nocapture`).

mod common;

#[path = "browser/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use harness::*;
use relay_testkit::{FakeGama, FakeGamaOptions, Headset};
use serde_json::{Value, json};

/// The model's maximum, and the classroom.
const PLAYERS: usize = 40;
/// In game but never asks for the world: GAMA sends it nothing while everyone else is fed.
const NOT_READY: &str = "Player_107";
/// Its headset drops off the network.
const DROPPED: &str = "Player_123";
/// Focused on the page, then its headset drops: its tile moves to the front with the focus.
const MOVER: &str = "Player_131";
/// Found with the filter box.
const FOUND: &str = "Player_117";

const TABLET: (u32, u32) = (820, 1180);
const LAPTOP: (u32, u32) = (1280, 800);

/// The fake GAMA's cycle: a world update for every ready player each time.
const CYCLE_MS: u64 = 50;

/// A world step, for the output the test sends itself while the experiment is paused.
const STEP: &str = r#"{"pointsLoc":[{"c":[100000,700000,0,0]}],"isInit":false,"offsetYGeom":[],"names":["car3"],"keepNames":[],"propertyID":["car"],"pointsGeom":[],"attributes":[{}]}"#;

/// Before the page's own scripts: long tasks (over 50 ms) of the main thread, whatever runs them.
const LONG_TASKS: &str = "window.__longTasks = []; new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push(Math.round(e.duration)); }).observe({ type: 'longtask', buffered: true });";

/// Where the tiles are, with the page at the top: the ids in order, those not wholly inside the
/// viewport below the sticky header, and those whose text is cut.
const LAYOUT: &str = r#"(() => {
  const header = document.querySelector('#topbar').getBoundingClientRect();
  const tiles = [...document.querySelectorAll('#players-grid .tile-item')];
  const outside = tiles.filter((li) => {
    const r = li.getBoundingClientRect();
    return r.top < header.bottom - 0.5 || r.bottom > innerHeight + 0.5 || r.left < -0.5 || r.right > innerWidth + 0.5 || r.height < 20;
  }).map((li) => li.dataset.player);
  const cut = tiles.filter((li) => [...li.querySelectorAll('.pid, .tile-state, .tile-nums')].some((e) => e.scrollWidth > e.clientWidth + 1)).map((li) => li.dataset.player);
  const bottom = Math.max(...tiles.map((li) => li.getBoundingClientRect().bottom));
  return { ids: tiles.map((li) => li.dataset.player), outside, cut, scrollY, bottom, innerHeight, header: header.bottom, sideways: document.documentElement.scrollWidth - document.documentElement.clientWidth };
})()"#;

/// With the page scrolled to the bottom: the experiment's state and its buttons, each visible,
/// inside the viewport and not covered by anything.
const CONTROLS: &str = r#"(() => {
  window.scrollTo(0, document.documentElement.scrollHeight);
  const ids = ['experiment-state', 'launch', 'pause', 'resume', 'stop'];
  const hidden = ids.filter((id) => {
    const e = document.getElementById(id);
    const r = e.getBoundingClientRect();
    if (r.width < 10 || r.height < 10 || r.top < 0 || r.bottom > innerHeight || r.left < 0 || r.right > innerWidth) return true;
    const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return !(at === e || e.contains(at));
  });
  return { scrolled: scrollY, hidden };
})()"#;

fn ids() -> Vec<String> {
    (101..101 + PLAYERS)
        .map(|n| format!("Player_{n}"))
        .collect()
}

/// The ids of the tiles, in the page's order.
const ORDER: &str =
    "[...document.querySelectorAll('#players-grid .tile-item')].map((t) => t.dataset.player)";

/// A classroom: 40 headsets in game, all but [`NOT_READY`] fed by GAMA's cycle.
async fn classroom() -> (Arc<FakeGama>, TestRelay, Vec<(String, Headset)>) {
    let gama = FakeGama::start(FakeGamaOptions {
        cycle_ms: CYCLE_MS,
        autorun: true,
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    // Pushes at the relay's highest rate (10 a second), the page's worst case.
    let relay = TestRelay::builder(&gama)
        .players("", &PLAYERS.to_string())
        .config(|c| {
            c.session.auto_launch = false;
            c.admin.push_refresh_ms = c.admin.push_min_interval_ms;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let mut headsets = Vec::new();
    for id in ids() {
        let h = relay.join(&id).await;
        headsets.push((id, h));
    }
    relay.launch().await;
    let all = ids();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    relay.wait_in_game(&refs).await;
    // Each headset loads the world and says it is ready for updates, as Unity does.
    for (id, h) in &headsets {
        h.ask("send_init_data", &[("id", id)]).await.unwrap();
        if id != NOT_READY {
            h.ask("player_ready_to_receive_geometries", &[("id", id)])
                .await
                .unwrap();
        }
    }
    (Arc::new(gama), relay, headsets)
}

/// The page's cost over `seconds`: Chromium's scripting time (CDP Performance metrics), the time
/// in the page's render function per push, and long tasks.
async fn measure(browser: &mut Browser, what: &str, seconds: u64) -> Value {
    let m0 = browser.call(json!({"cmd": "metrics"})).await["metrics"].take();
    let s0 = browser.eval("window.adminPage.stats()").await;
    let l0 = browser.eval("window.__longTasks.length").await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let m1 = browser.call(json!({"cmd": "metrics"})).await["metrics"].take();
    let s1 = browser.eval("window.adminPage.stats()").await;
    let long = browser
        .eval(&format!("window.__longTasks.slice({l0})"))
        .await;
    let d = |m: &str| m1[m].as_f64().unwrap() - m0[m].as_f64().unwrap();
    let wall = d("Timestamp");
    let pushes = s1["pushes"].as_f64().unwrap() - s0["pushes"].as_f64().unwrap();
    let render_ms = s1["ms"].as_f64().unwrap() - s0["ms"].as_f64().unwrap();
    let report = json!({
        "script_ms_per_s": 1000.0 * d("ScriptDuration") / wall,
        "task_ms_per_s": 1000.0 * d("TaskDuration") / wall,
        "layout_and_style_ms_per_s": 1000.0 * (d("LayoutDuration") + d("RecalcStyleDuration")) / wall,
        "pushes_per_s": pushes / wall,
        "render_ms_per_push": render_ms / pushes.max(1.0),
        "render_ms_per_s": render_ms / wall,
        "render_max_ms": s1["maxMs"],
        "long_tasks": long,
    });
    eprintln!(
        "{what}: the page's scripting {:.1} ms a second (all its main-thread work {:.1} ms a second, layout and style {:.1}); {:.1} pushes a second, render {:.2} ms a push ({:.1} ms a second, longest {:.1} ms); long tasks (ms): {}",
        report["script_ms_per_s"].as_f64().unwrap(),
        report["task_ms_per_s"].as_f64().unwrap(),
        report["layout_and_style_ms_per_s"].as_f64().unwrap(),
        report["pushes_per_s"].as_f64().unwrap(),
        report["render_ms_per_push"].as_f64().unwrap(),
        report["render_ms_per_s"].as_f64().unwrap(),
        report["render_max_ms"].as_f64().unwrap(),
        report["long_tasks"],
    );
    report
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

/// Checks the page's cost stayed low: the render of a push (40 tiles) and the scripting overall.
fn assert_smooth(report: &Value, what: &str) {
    assert!(
        f(&report["pushes_per_s"]) >= 5.0,
        "{what}: the page got too few pushes to measure: {report}"
    );
    assert!(
        f(&report["render_ms_per_push"]) < 8.0,
        "{what}: rendering a push takes too long: {report}"
    );
    assert!(
        f(&report["script_ms_per_s"]) < 250.0,
        "{what}: the page scripts too much: {report}"
    );
}

/// Checks every tile is inside the viewport without scrolling, with nothing cut; the screen is
/// saved as `shot` first.
async fn assert_one_screen(browser: &mut Browser, what: &str, shot: &str) -> Value {
    browser.eval("window.scrollTo(0, 0)").await;
    browser
        .call(json!({"cmd": "screenshot", "path": target_dir().join(shot), "full_page": false}))
        .await;
    let layout = browser.eval(LAYOUT).await;
    assert_eq!(
        layout["ids"].as_array().unwrap().len(),
        PLAYERS,
        "{what}: {layout}"
    );
    assert_eq!(
        layout["outside"],
        json!([]),
        "{what}: tiles outside the first screen: {layout}"
    );
    assert_eq!(
        layout["cut"],
        json!([]),
        "{what}: tiles with cut text: {layout}"
    );
    assert_eq!(layout["sideways"], 0, "{what}: the page scrolls sideways");
    eprintln!(
        "{what}: 40 tiles from under the header ({:.0} px) to {:.0} px of {} px",
        f(&layout["header"]),
        f(&layout["bottom"]),
        layout["innerHeight"]
    );
    layout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn forty_headsets_on_one_screen() {
    require_browser("forty_headsets_on_one_screen");
    let started = Instant::now();
    let (gama, relay, mut headsets) = classroom().await;
    let all = ids();

    let (mut browser, opened) = a_tablet_opens_the_page_on_a_running_experiment(&relay).await;
    rates_show_from_the_first_second(&mut browser, opened).await;
    the_rates_settle_on_gama_s_pace(&mut browser).await;
    those_who_need_attention_come_first(&mut browser, &mut headsets, &all).await;
    let tablet_cost = on_the_tablet_everyone_fits_and_the_controls_stay_at_hand(&mut browser).await;
    let slow_cost = on_a_slow_tablet_the_rates_still_say_gama_s_pace(&mut browser).await;
    the_filter_box_finds_a_player_and_opens_its_detail(&mut browser).await;
    from_the_detail_the_world_view_follows_the_player(&mut browser).await;
    a_filter_that_matches_nobody_says_so(&mut browser).await;
    the_focus_stays_on_a_tile_that_moves_to_the_front(&mut browser, &mut headsets).await;
    in_dark_colours(&mut browser).await;
    let laptop_cost = on_the_laptop_everyone_fits_and_the_controls_stay_at_hand(&mut browser).await;
    on_a_phone_nothing_is_wider_than_the_screen(&mut browser).await;
    paused_while_output_goes_on_the_page_says_so(&mut browser, &relay, &gama, &all).await;

    browser.assert_no_page_errors().await;
    browser.close().await;
    assert_smooth(&tablet_cost, "tablet");
    assert_smooth(&laptop_cost, "laptop");
    assert!(
        f(&slow_cost["render_ms_per_push"]) < 25.0,
        "a slow tablet renders a push too slowly: {slow_cost}"
    );
    eprintln!(
        "classroom test: {:.1} s; screenshots: {}",
        started.elapsed().as_secs_f64(),
        target_dir().join("admin-classroom-*.png").display()
    );
}

/// The rates of the players GAMA feeds (in game, all but [`NOT_READY`]): a JS array of elements.
fn fed_rates() -> String {
    format!(
        "[...document.querySelectorAll('#players-grid .tile-item[data-state=\"in_game\"]:not([data-player=\"{NOT_READY}\"]) .rate')]"
    )
}

/// A JS expression, truthy (`{gama, r}`: GAMA's pace and the fed players' rates) once every fed
/// player's rate is GAMA's pace.
fn rates_at_gama_s_pace() -> String {
    let fed = fed_rates();
    format!(
        "(() => {{ const gama = parseFloat(document.querySelector('#clock-rate').dataset.value); const r = {fed}.map((e) => parseFloat(e.dataset.rate)); return gama > 5 && r.every((v) => Math.abs(v - gama) <= Math.max(1.5, gama * 0.1)) && {{gama, r}}; }})()"
    )
}

/// A headset, dropped off the network: its connection ends without a word.
fn drop_off(headsets: &mut Vec<(String, Headset)>, id: &str) {
    let at = headsets.iter().position(|(h, _)| h == id).unwrap();
    headsets.remove(at).1.abort();
}

/// A tablet held upright opens the page, which watches its long tasks: live, the experiment
/// running, GAMA's outputs flowing. Returns the browser and when the page was opened.
async fn a_tablet_opens_the_page_on_a_running_experiment(relay: &TestRelay) -> (Browser, Instant) {
    let mut browser = Browser::start().await;
    browser.viewport(TABLET.0, TABLET.1).await;
    browser
        .call(json!({"cmd": "init_script", "script": LONG_TASKS}))
        .await;
    let opened = Instant::now();
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    browser
        .wait(r#"#experiment-state[data-state="RUNNING"]"#)
        .await;
    browser.wait(r#"#clock-status[data-state="flowing"]"#).await;
    (browser, opened)
}

/// Rates from the first second: "—" until two of the relay's documents are half a second apart,
/// then a number for every fed player; never a placeholder that looks like a glitch.
async fn rates_show_from_the_first_second(browser: &mut Browser, opened: Instant) {
    let placeholders = browser
        .eval("[...document.querySelectorAll('#players-grid .rate')].filter((r) => !/^(—|[0-9.]+\\/s)$/.test(r.textContent)).map((r) => r.textContent)")
        .await;
    assert_eq!(placeholders, json!([]), "odd rates on the page");
    let fed = fed_rates();
    browser
        .wait_fn(
            &format!("(() => {{ const r = {fed}.map((e) => parseFloat(e.dataset.rate)); return r.length === {} && r.every((v) => v >= 0) && r; }})()", PLAYERS - 1),
            3000,
        )
        .await;
    let first_rates = opened.elapsed();
    eprintln!(
        "every fed player's rate shown {} ms after the page was opened",
        first_rates.as_millis()
    );
}

/// Soon after, the numbers settle on GAMA's pace: every fed headset gets each of GAMA's outputs,
/// so its rate is GAMA's (about 20 a second, less on a busy machine).
async fn the_rates_settle_on_gama_s_pace(browser: &mut Browser) {
    let settled = browser.wait_fn(&rates_at_gama_s_pace(), 4000).await;
    let rates = settled["r"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("rates {settled}"));
    eprintln!(
        "GAMA's pace {} outputs a second; the players' rates {}",
        settled["gama"], settled["r"]
    );
    assert_eq!(rates.len(), PLAYERS - 1);
    assert!(
        browser
            .eval("[...document.querySelectorAll('#players-grid .rate')].every((e) => e.textContent !== '…/s')")
            .await
            .as_bool()
            .unwrap()
    );
}

/// A headset drops off the network; another never asked for the world and starves. Both need
/// attention: the disconnected one first, the starving one next, everyone else in arrival order
/// (`all`). Colour is not the only signal: a word and a shape too.
async fn those_who_need_attention_come_first(
    browser: &mut Browser,
    headsets: &mut Vec<(String, Headset)>,
    all: &[String],
) {
    drop_off(headsets, DROPPED);
    browser.wait(&tile_in(DROPPED, "disconnected")).await;
    browser
        .call(json!({"cmd": "wait", "selector": format!(r#"{}[data-starving="true"]"#, tile(NOT_READY)), "timeout_ms": 8000}))
        .await;
    let mut expected: Vec<&str> = vec![DROPPED, NOT_READY];
    expected.extend(
        all.iter()
            .map(String::as_str)
            .filter(|id| *id != DROPPED && *id != NOT_READY),
    );
    assert_eq!(browser.eval(ORDER).await, json!(expected));
    browser.wait_text(&tile(DROPPED), "Disconnected").await;
    browser.wait_text(&tile(NOT_READY), "Starving").await;
    browser
        .wait_text("#players-attention", "2 need attention")
        .await;
    // Colour is not the only signal: a word and a shape too.
    assert_eq!(
        browser
            .eval(&format!(
                "['{DROPPED}', '{NOT_READY}', 'Player_101'].map((id) => {{ const t = document.querySelector(`#players-grid [data-player=\"${{id}}\"]`); return [t.dataset.level, t.querySelector('svg.icon').dataset.name, t.querySelector('.tile-state').textContent.replace(/^: /, '')]; }})"
            ))
            .await,
        json!([
            ["bad", "slash", "Disconnected"],
            ["bad", "warning", "Starving"],
            ["ok", "check", "In game"]
        ])
    );
}

/// The tablet held upright: every player on the first screen, nothing cut; the controls stay at
/// hand at the bottom of the page. Returns the page's cost there.
async fn on_the_tablet_everyone_fits_and_the_controls_stay_at_hand(browser: &mut Browser) -> Value {
    assert_one_screen(browser, "tablet 820×1180", "admin-classroom-tablet.png").await;
    browser.screenshot("admin-classroom-tablet-full.png").await;
    // The controls stay at hand at the bottom of the page.
    let controls = browser.eval(CONTROLS).await;
    assert!(f(&controls["scrolled"]) > 500.0, "{controls}");
    assert_eq!(
        controls["hidden"],
        json!([]),
        "controls out of reach at the bottom of the page on the tablet: {controls}"
    );
    browser
        .call(json!({"cmd": "screenshot", "path": target_dir().join("admin-classroom-tablet-bottom.png"), "full_page": false}))
        .await;
    measure(browser, "tablet 820×1180, 40 players", 6).await
}

/// A slow tablet (the page's CPU four times slower): the rates still say GAMA's pace, because they
/// are measured on the relay's clock, not on when the page got round to a push. Returns the
/// page's cost there.
async fn on_a_slow_tablet_the_rates_still_say_gama_s_pace(browser: &mut Browser) -> Value {
    browser
        .call(json!({"cmd": "cpu_throttle", "rate": 4}))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let slow_cost = measure(browser, "tablet 820×1180, 40 players, CPU 4× slower", 4).await;
    let (fed, pace) = (fed_rates(), rates_at_gama_s_pace());
    for _ in 0..5 {
        let rates = browser.eval(&pace).await;
        assert!(
            rates.is_object(),
            "rates on a slow tablet are not GAMA's pace: {}",
            browser.eval(&format!("[parseFloat(document.querySelector('#clock-rate').dataset.value), {fed}.map((e) => parseFloat(e.dataset.rate))]")).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    browser
        .call(json!({"cmd": "cpu_throttle", "rate": 1}))
        .await;
    slow_cost
}

/// The filter box finds one player; Enter opens its detail, which says everything the table used
/// to; Escape gives the focus back to its tile.
async fn the_filter_box_finds_a_player_and_opens_its_detail(browser: &mut Browser) {
    browser.eval("window.scrollTo(0, 0)").await;
    browser.fill("#players-filter", "117").await;
    browser
        .wait_text("#players-filter-status", "1 of 40 players shown")
        .await;
    assert_eq!(
        browser
            .eval("[...document.querySelectorAll('#players-grid .tile-item:not([hidden])')].map((t) => t.dataset.player)")
            .await,
        json!([FOUND])
    );
    browser.press("Enter").await;
    browser.wait("#player-detail[open]").await;
    browser.wait_text("#detail-title", FOUND).await;
    browser
        .wait_text(&detail_field("address"), "127.0.0.1:")
        .await;
    browser.wait_text(&detail_field("rtt"), "ms").await;
    browser
        .wait_text(&detail_field("updates"), "a second")
        .await;
    browser.wait_text(&detail_field("sent"), "messages").await;
    browser
        .wait_text(&detail_field("received"), "messages")
        .await;
    browser.wait_text(&detail_field("queue"), "empty").await;
    browser
        .wait(r#"#player-detail[open] #detail-remove[aria-disabled="false"]"#)
        .await;
    browser
        .call(json!({"cmd": "screenshot", "path": target_dir().join("admin-classroom-detail.png"), "full_page": false}))
        .await;
    browser.close_detail_back_to(FOUND).await;
}

/// From the detail, the world view follows the player; then it follows the first player again.
async fn from_the_detail_the_world_view_follows_the_player(browser: &mut Browser) {
    browser.click(&format!("{} .tile", tile(FOUND))).await;
    browser.wait("#player-detail[open]").await;
    browser.click("#detail-follow").await;
    browser.wait_hidden("#player-detail").await;
    browser
        .wait_fn(
            &format!("window.worldView.snapshot().player === '{FOUND}' && document.activeElement.id === 'world-player' && document.querySelector('#world-player').value === '{FOUND}'"),
            5000,
        )
        .await;
    browser.wait_text("#world-status", FOUND).await;
    browser.select("#world-player", "").await;
}

/// A filter that matches nobody says so; emptied, every player is shown again.
async fn a_filter_that_matches_nobody_says_so(browser: &mut Browser) {
    browser.eval("window.scrollTo(0, 0)").await;
    browser.fill("#players-filter", "nobody").await;
    browser
        .wait_text("#players-filter-status", "No player matches")
        .await;
    browser.fill("#players-filter", "").await;
    browser.wait_hidden("#players-filter-status").await;
    assert_eq!(
        browser
            .count("#players-grid .tile-item:not([hidden])")
            .await,
        PLAYERS as u64
    );
}

/// Keyboard: the focus stays on a tile that moves to the front when its headset drops, and arrow
/// keys go on from there.
async fn the_focus_stays_on_a_tile_that_moves_to_the_front(
    browser: &mut Browser,
    headsets: &mut Vec<(String, Headset)>,
) {
    let focused = "document.activeElement.closest('[data-player]')?.dataset.player";
    browser
        .eval(&format!(
            "document.querySelector('{} .tile').focus()",
            tile(MOVER)
        ))
        .await;
    drop_off(headsets, MOVER);
    browser.wait(&tile_in(MOVER, "disconnected")).await;
    let front = browser.eval(ORDER).await;
    assert_eq!(front[0], DROPPED);
    assert_eq!(front[1], MOVER, "{front}");
    assert_eq!(
        browser.eval(focused).await,
        MOVER,
        "the focused tile lost its focus when it moved"
    );
    browser.press("ArrowLeft").await;
    assert_eq!(browser.eval(focused).await, DROPPED);
    browser.press("ArrowRight").await;
    browser.press("ArrowRight").await;
    assert_eq!(browser.eval(focused).await, NOT_READY);
}

/// Dark colours: still readable (screenshot `admin-classroom-dark.png`).
async fn in_dark_colours(browser: &mut Browser) {
    browser
        .call(json!({"cmd": "color_scheme", "value": "dark"}))
        .await;
    browser.eval("document.activeElement.blur()").await;
    browser
        .call(json!({"cmd": "screenshot", "path": target_dir().join("admin-classroom-dark.png"), "full_page": false}))
        .await;
    browser
        .call(json!({"cmd": "color_scheme", "value": "light"}))
        .await;
}

/// The laptop: the same on one screen, the controls at hand at the bottom. Returns the page's
/// cost there.
async fn on_the_laptop_everyone_fits_and_the_controls_stay_at_hand(browser: &mut Browser) -> Value {
    browser.viewport(LAPTOP.0, LAPTOP.1).await;
    assert_one_screen(browser, "laptop 1280×800", "admin-classroom-laptop.png").await;
    let controls = browser.eval(CONTROLS).await;
    assert_eq!(
        controls["hidden"],
        json!([]),
        "controls out of reach at the bottom of the page on the laptop: {controls}"
    );
    browser.eval("window.scrollTo(0, 0)").await;
    measure(browser, "laptop 1280×800, 40 players", 6).await
}

/// A phone: fewer columns, nothing wider than the screen; then the laptop again.
async fn on_a_phone_nothing_is_wider_than_the_screen(browser: &mut Browser) {
    browser.viewport(390, 844).await;
    browser.eval("window.scrollTo(0, 0)").await;
    browser
        .call(json!({"cmd": "screenshot", "path": target_dir().join("admin-classroom-phone.png"), "full_page": false}))
        .await;
    assert_eq!(
        browser.horizontal_overflow().await,
        0,
        "the page scrolls sideways at 390 px"
    );
    browser.viewport(LAPTOP.0, LAPTOP.1).await;
}

/// Paused while output goes on arriving (GAMA's own window, a model sending from its init): the
/// page says so instead of "no output expected", and nobody starves or stalls; once the output
/// stops, no output is expected again.
async fn paused_while_output_goes_on_the_page_says_so(
    browser: &mut Browser,
    relay: &TestRelay,
    gama: &Arc<FakeGama>,
    all: &[String],
) {
    post_pause(relay).await;
    browser
        .wait(r#"#experiment-state[data-state="PAUSED"]"#)
        .await;
    let feeder = {
        let gama = Arc::clone(gama);
        let all = all.to_vec();
        tokio::spawn(async move {
            let ids: Vec<&str> = all.iter().map(String::as_str).collect();
            loop {
                gama.send_linker_output(&linker_output(&ids, STEP));
                tokio::time::sleep(Duration::from_millis(CYCLE_MS)).await;
            }
        })
    };
    browser
        .call(json!({"cmd": "wait", "selector": r#"#clock-status[data-state="unexpected"]"#, "timeout_ms": 5000}))
        .await;
    browser
        .wait_text("#clock-status", "Paused, but GAMA still sends output")
        .await;
    assert_eq!(
        browser
            .count(r#"#players-grid [data-starving="true"]"#)
            .await,
        0
    );
    browser
        .call(json!({"cmd": "screenshot", "path": target_dir().join("admin-classroom-paused.png"), "full_page": false}))
        .await;
    feeder.abort();
    browser
        .call(json!({"cmd": "wait", "selector": r#"#clock-status[data-state="paused"]"#, "timeout_ms": 6000}))
        .await;
    browser
        .wait_text("#clock-status", "Paused: no output expected")
        .await;
}

/// Pauses the experiment through the API.
async fn post_pause(relay: &TestRelay) {
    let (status, body) = relay.post("/api/experiment/pause", None).await;
    assert_eq!(status, 200, "pause: {body}");
    relay.wait_experiment("PAUSED").await;
}
