//! The admin page's GAML console, live world view and simulation clock, in the system's headless
//! Chromium (see `tests/browser/harness.rs`), against a relay with a fake GAMA and simulated
//! headsets. Screenshots go to `target/admin-world*.png` and `target/admin-clock.png`.

mod common;

#[path = "browser/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use common::*;
use harness::*;
use relay_testkit::{FakeGama, FakeGamaOptions, Headset};
use serde_json::{Value, json};

const TOKEN: &str = "w0rld-v1ew";

/// Opens the page with the token (the relay asks for one) and waits until it is live.
async fn open_page(browser: &mut Browser, relay: &TestRelay) {
    browser
        .open(&format!("{}/#token={TOKEN}", relay.base))
        .await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
}

fn with_token(c: &mut gama_vr_relay::Config) {
    c.session.auto_launch = false;
    c.admin.token = TOKEN.into();
}

// -------------------------------------------------------------------------------------------------
// GAML console
// -------------------------------------------------------------------------------------------------

/// The console's input value.
const INPUT: &str = "document.querySelector('#console-input').value";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_console_evaluates_gaml_and_keeps_a_history() {
    require_browser("the_console_evaluates_gaml_and_keeps_a_history");
    let started = Instant::now();
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama).config(with_token).start().await;
    relay.wait_gama().await;
    let _a = relay.join("A").await;
    let mut browser = Browser::start().await;
    open_page(&mut browser, &relay).await;

    without_an_experiment_the_console_says_why_and_sends_nothing(&mut browser, &gama).await;
    launched_cycle_answers_0(&mut browser, &relay, &gama).await;
    an_unknown_expression_shows_gama_s_error(&mut browser).await;
    the_arrows_go_through_the_history(&mut browser).await;
    a_result_can_be_copied(&mut browser).await;
    the_history_survives_a_reload_and_clear_keeps_it(&mut browser, &relay).await;
    // Gated like every admin action: without the token the relay refuses.
    let (status, _) = relay
        .post("/api/console", Some(r#"{"expr":"cycle"}"#))
        .await;
    assert_eq!(status, 401);
    stopped_the_console_is_disabled_again(&mut browser, &relay).await;

    browser.assert_no_page_errors().await;
    browser.close().await;
    eprintln!("console test: {:.1} s", started.elapsed().as_secs_f64());
}

/// No experiment: the console says why it cannot evaluate, and Enter sends nothing to `gama`.
async fn without_an_experiment_the_console_says_why_and_sends_nothing(
    browser: &mut Browser,
    gama: &FakeGama,
) {
    browser
        .wait(r#"#console-input[aria-disabled="true"][readonly]"#)
        .await;
    browser
        .wait(r#"#console-submit[aria-disabled="true"]"#)
        .await;
    browser.wait_text("#console-hint", "launch one").await;
    let sent = gama.commands_of_type("expression").len();
    browser
        .eval("(() => { const input = document.querySelector('#console-input'); input.value = 'cycle'; input.focus(); })()")
        .await;
    browser.press("Enter").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(browser.count("#console-log li").await, 0);
    assert_eq!(gama.commands_of_type("expression").len(), sent);
}

/// Launched: `cycle` answers 0, beside the expression and its time; the input is emptied and GAMA
/// got the expression with the experiment's id.
async fn launched_cycle_answers_0(browser: &mut Browser, relay: &TestRelay, gama: &FakeGama) {
    post_with_token(relay, "/api/experiment/launch").await;
    relay.wait_experiment("PAUSED").await;
    browser
        .wait(r#"#console-input[aria-disabled="false"]"#)
        .await;
    browser.wait_hidden("#console-hint:not(:empty)").await;
    browser.fill("#console-input", "cycle").await;
    browser.press("Enter").await;
    browser
        .wait_text(r#"#console-log li[data-status="ok"] .console-text"#, "0")
        .await;
    let first = browser
        .eval("[...document.querySelectorAll('#console-log li')].map((li) => [li.querySelector('.console-expr').textContent, li.querySelector('.console-text').textContent, li.querySelector('time').textContent])")
        .await;
    assert_eq!(first[0][0], "cycle");
    assert_eq!(first[0][1], "0");
    assert!(
        first[0][2].as_str().unwrap().len() >= 5,
        "no time shown: {first}"
    );
    assert_eq!(browser.eval(INPUT).await, "", "the input is not emptied");
    gama.wait_command(T, |c| {
        c["type"] == "expression" && c["expr"] == "cycle" && c["exp_id"] == "0"
    })
    .await
    .expect("the expression reached GAMA with the experiment id");
}

/// An unknown expression: GAMA's error, in words.
async fn an_unknown_expression_shows_gama_s_error(browser: &mut Browser) {
    browser.fill("#console-input", "nonsense").await;
    browser.press("Enter").await;
    browser
        .wait_text(
            r#"#console-log li[data-status="error"]"#,
            "unknown expression nonsense",
        )
        .await;
    browser
        .wait_text(r#"#console-log li[data-status="error"]"#, "Error")
        .await;
}

/// ↑ and ↓ go through the history; ↓ past the newest gives back what was being typed. A recalled
/// expression runs again with Enter.
async fn the_arrows_go_through_the_history(browser: &mut Browser) {
    browser.fill("#console-input", "cyc").await;
    browser.press("ArrowUp").await;
    assert_eq!(browser.eval(INPUT).await, "nonsense");
    browser.press("ArrowUp").await;
    assert_eq!(browser.eval(INPUT).await, "cycle");
    browser.press("ArrowUp").await;
    assert_eq!(browser.eval(INPUT).await, "cycle", "past the oldest");
    browser.press("ArrowDown").await;
    assert_eq!(browser.eval(INPUT).await, "nonsense");
    browser.press("ArrowDown").await;
    assert_eq!(browser.eval(INPUT).await, "cyc");
    // A recalled expression runs again with Enter.
    browser.fill("#console-input", "").await;
    browser.press("ArrowUp").await;
    browser.press("ArrowUp").await;
    browser.press("Enter").await;
    browser
        .call(json!({"cmd": "wait_fn", "expr": "document.querySelectorAll('#console-log li[data-status=\"ok\"]').length === 2", "timeout_ms": 5000}))
        .await;
}

/// A result can be copied (screenshot `admin-console.png`).
async fn a_result_can_be_copied(browser: &mut Browser) {
    browser
        .call(json!({"cmd": "grant", "permissions": ["clipboard-read", "clipboard-write"]}))
        .await;
    browser
        .click(r#"#console-log li[data-status="ok"] button[data-action="copy"]"#)
        .await;
    browser.wait_text("#message", "Copied").await;
    assert_eq!(browser.eval("navigator.clipboard.readText()").await, "0");
    browser
        .screenshot_of("#console-card", "admin-console.png")
        .await;
}

/// The history and the answers survive a reload (session storage); Clear empties the list, not
/// the history.
async fn the_history_survives_a_reload_and_clear_keeps_it(
    browser: &mut Browser,
    relay: &TestRelay,
) {
    browser.open("about:blank").await;
    open_page(browser, relay).await;
    browser
        .wait(r#"#console-input[aria-disabled="false"]"#)
        .await;
    assert_eq!(browser.count("#console-log li").await, 3);
    browser.click("#console-input").await;
    browser.press("ArrowUp").await;
    assert_eq!(browser.eval(INPUT).await, "cycle");
    browser.press("ArrowUp").await;
    assert_eq!(browser.eval(INPUT).await, "nonsense");
    // Clear empties the list, not the history.
    browser.click("#console-clear").await;
    browser.wait_gone("#console-log li").await;
    browser.wait("#console-empty").await;
    browser.fill("#console-input", "").await;
    browser.press("ArrowUp").await;
    assert_eq!(browser.eval(INPUT).await, "cycle");
}

/// Stopped: disabled again, with the reason.
async fn stopped_the_console_is_disabled_again(browser: &mut Browser, relay: &TestRelay) {
    post_with_token(relay, "/api/experiment/stop").await;
    browser
        .wait(r#"#console-input[aria-disabled="true"]"#)
        .await;
    browser
        .wait_text("#console-hint", "No experiment is live")
        .await;
}

/// An admin action with the token; it must succeed.
async fn post_with_token(relay: &TestRelay, path: &str) {
    let r = relay
        .http
        .post(format!("{}{path}", relay.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "POST {path}");
}

// -------------------------------------------------------------------------------------------------
// World view
// -------------------------------------------------------------------------------------------------

const PARAMETERS: &str =
    r#"{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100}"#;

/// A red geometry property and a prefab one (protocol.md §6.3, keys in the linker's order).
const PROPERTIES: &str = r#"{"properties":[{"id":"block","tag":"block","hasPrefab":false,"height":100000,"is3D":true,"red":220,"green":38,"blue":38,"alpha":255,"material":null,"constraints":null,"isInteractable":false,"isGrabable":false,"hasCollider":true,"toFollow":false},{"id":"car","tag":"car","hasPrefab":true,"prefab":"Prefabs/Visual Prefabs/City/Vehicles/Car","size":40000,"rotationCoeff":10000,"rotationOffset":-900000,"yOffset":0,"constraints":null,"isInteractable":true,"isGrabable":false,"hasCollider":true,"toFollow":false}]}"#;

/// The background: car1 at (20, 30) heading east, a square block from (40, 10) to (60, 30), car2
/// at (70, 50) heading south (GAMA's y points down); GAMA placed the player at (50, 65). The
/// agents interleave, so the two cursors (pointsLoc, pointsGeom) matter.
const INIT_WORLD: &str = r#"{"pointsLoc":[{"c":[200000,300000,0,0]},{"c":[700000,500000,0,900000]}],"isInit":true,"offsetYGeom":[0],"names":["car1","block1","car2"],"keepNames":[],"propertyID":["car","block","car"],"pointsGeom":[{"c":[400000,100000,600000,100000,600000,300000,400000,300000,400000,100000]}],"attributes":[{},{},{}],"position":[500000,650000,0]}"#;

/// A step: car1 moved to (25, 35), heading 45°.
const STEP_1: &str = r#"{"pointsLoc":[{"c":[250000,350000,0,450000]}],"isInit":false,"offsetYGeom":[],"names":["car1"],"keepNames":[],"propertyID":["car"],"pointsGeom":[],"attributes":[{}]}"#;

/// The next step lists only car3: car1 (dynamic since step 1) is gone, the background stays.
const STEP_2: &str = r#"{"pointsLoc":[{"c":[100000,700000,0,0]}],"isInit":false,"offsetYGeom":[],"names":["car3"],"keepNames":[],"propertyID":["car"],"pointsGeom":[],"attributes":[{}]}"#;

const SNAPSHOT: &str = "window.worldView.snapshot()";

fn find<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v[key] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

fn close(a: f64, b: f64, tolerance: f64, what: &str) {
    assert!(
        (a - b).abs() <= tolerance,
        "{what}: {a} is not {b} (± {tolerance})"
    );
}

/// Pixel position of `v` on the canvas.
fn px(v: &Value) -> (f64, f64) {
    (f(&v["px"]), f(&v["py"]))
}

/// Where `v` is in the viewport, for the mouse.
fn client(snapshot: &Value, v: &Value) -> (f64, f64) {
    (
        f(&snapshot["canvas"]["left"]) + f(&v["px"]),
        f(&snapshot["canvas"]["top"]) + f(&v["py"]),
    )
}

/// Checks `v` is drawn where its world coordinates (x, y) put it relative to `origin` at
/// `scale` pixels per GAMA unit (x to the right, y downward).
fn assert_drawn_at(v: &Value, origin: &Value, scale: f64, what: &str) {
    let (ox, oy) = px(origin);
    let (x, y) = px(v);
    close(
        x - ox,
        (f(&v["x"]) - f(&origin["x"])) * scale,
        1.0,
        &format!("{what}: x on the canvas"),
    );
    close(
        y - oy,
        (f(&v["y"]) - f(&origin["y"])) * scale,
        1.0,
        &format!("{what}: y on the canvas"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_world_view_draws_what_a_headset_receives() {
    require_browser("the_world_view_draws_what_a_headset_receives");
    let started = Instant::now();
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama).config(with_token).start().await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    let b = relay.join("B").await;
    post_with_token(&relay, "/api/experiment/launch").await;
    relay.wait_in_game(&["A", "B"]).await;

    let mut browser = Browser::start().await;
    the_view_follows_the_first_player_in_game(&mut browser, &relay).await;
    let s = the_linker_s_init_and_the_players_positions_arrive(&mut browser, &gama, &a, &b).await;
    decoded_precision_world_size_properties_and_agents(&mut browser, &s).await;
    let (car1_px, scale) = drawn_in_gama_s_plane(&mut browser, &s).await;
    let shot = browser
        .screenshot_of("#world-card", "admin-world.png")
        .await;
    hovering_names_a_car_and_a_player(&mut browser).await;
    a_step_moves_car1_and_the_next_one_drops_it(&mut browser, &gama, car1_px, scale).await;

    // Moving about the map: mouse, touch, keyboard.
    let s0 = the_buttons_zoom_about_the_centre_and_fit(&mut browser).await;
    let fitted = the_wheel_zooms_about_the_pointer_and_dragging_pans(&mut browser, s0).await;
    two_fingers_zoom_and_a_tap_shows_what_is_under_it(&mut browser, s0, &fitted).await;
    the_keyboard_goes_through_players_and_agents(&mut browser).await;

    following_b_then_the_first_player_again(&mut browser).await;
    in_dark_colours_and_on_a_phone(&mut browser).await;
    // A new simulation: the view starts over.
    gama.gui_reload();
    browser
        .wait_fn(
            &format!("(() => {{ const s = {SNAPSHOT}; return s.agents.length === 0 && s.world === null; }})()"),
            5000,
        )
        .await;

    browser.assert_no_page_errors().await;
    browser.close().await;
    eprintln!(
        "world view test: {:.1} s; screenshot: {}",
        started.elapsed().as_secs_f64(),
        shot.display()
    );
}

/// The page opens; its view follows the first player in game; its socket is served (the first
/// positions message came) before anyone moves. The canvas is scrolled into the middle.
async fn the_view_follows_the_first_player_in_game(browser: &mut Browser, relay: &TestRelay) {
    open_page(browser, relay).await;
    browser
        .wait_fn(
            &format!(
                "{SNAPSHOT}.player === 'A' && {SNAPSHOT}.connected && {SNAPSHOT}.messages > 0"
            ),
            5000,
        )
        .await;
    browser.wait_text("#world-status", "Following A").await;
    browser
        .eval("document.querySelector('#world-canvas').scrollIntoView({block: 'center'})")
        .await;
}

/// The linker's init sequence for A, then both headsets report where they are: A at (30, 65)
/// looking along Unity's +z (up on the map), B at (80, 20) turned toward +x (right). Returns the
/// view once it has them all.
async fn the_linker_s_init_and_the_players_positions_arrive(
    browser: &mut Browser,
    gama: &FakeGama,
    a: &Headset,
    b: &Headset,
) -> Value {
    for payload in [PARAMETERS, PROPERTIES, INIT_WORLD] {
        gama.send_linker_output(&linker_output(&["A"], payload));
    }
    a.ask(
        "move_player_external",
        &[
            ("id", "A"),
            ("x", "300000"),
            ("y", "650000"),
            ("z", "17000"),
            ("angle", "0"),
        ],
    )
    .await
    .unwrap();
    b.ask(
        "move_player_external",
        &[
            ("id", "B"),
            ("x", "800000"),
            ("y", "200000"),
            ("z", "17000"),
            ("angle", "-900000"),
        ],
    )
    .await
    .unwrap();
    browser
        .wait_fn(
            &format!("(() => {{ const s = {SNAPSHOT}; return s.agents.length === 3 && s.players.length === 2 && s.placed && s; }})()"),
            5000,
        )
        .await
}

/// Decoded from the view `s`: precision, world size, properties, agents by their own cursor.
async fn decoded_precision_world_size_properties_and_agents(browser: &mut Browser, s: &Value) {
    assert_eq!(s["precision"], 10000);
    assert_eq!(s["world"], json!({"width": 100, "height": 80}));
    browser.wait_text("#world-size", "100 × 80").await;
    browser.wait_text("#world-precision", "10000").await;
    let car1 = find(&s["agents"], "name", "car1");
    let car2 = find(&s["agents"], "name", "car2");
    let block = find(&s["agents"], "name", "block1");
    assert_eq!(
        (
            car1["kind"].as_str(),
            car1["x"].as_f64(),
            car1["y"].as_f64()
        ),
        (Some("prefab"), Some(20.0), Some(30.0))
    );
    assert_eq!(
        (
            car2["kind"].as_str(),
            car2["x"].as_f64(),
            car2["y"].as_f64()
        ),
        (Some("prefab"), Some(70.0), Some(50.0))
    );
    assert_eq!(car2["heading"], 90, "car2 heads south");
    assert_eq!(block["kind"], "geometry");
    assert_eq!(
        block["points"],
        json!([[40, 10], [60, 10], [60, 30], [40, 30], [40, 10]])
    );
    assert_eq!((f(&block["x"]), f(&block["y"])), (50.0, 20.0));
    assert_eq!(
        find(&s["properties"], "id", "block")["colour"],
        json!({"r": 220, "g": 38, "b": 38, "a": 1})
    );
    assert_eq!(find(&s["properties"], "id", "car")["size"], 4);
}

/// Drawn in GAMA's plane: car1 left of and above car2, by the world's proportions, the whole world
/// in the canvas, the players facing their way, the counts and the legend. Returns car1's pixel
/// position and the scale (pixels per GAMA unit).
async fn drawn_in_gama_s_plane(browser: &mut Browser, s: &Value) -> ((f64, f64), f64) {
    let car1 = find(&s["agents"], "name", "car1");
    let car2 = find(&s["agents"], "name", "car2");
    let block = find(&s["agents"], "name", "block1");
    let (x1, y1) = px(car1);
    let (x2, y2) = px(car2);
    assert!(x1 < x2 && y1 < y2, "car1 {x1},{y1} / car2 {x2},{y2}");
    let scale = (x2 - x1) / 50.0;
    close(
        (y2 - y1) / (x2 - x1),
        20.0 / 50.0,
        0.02,
        "car1 → car2 slope",
    );
    close(scale, f(&s["view"]["scale"]), 0.05, "pixels per GAMA unit");
    // The whole world fits in the canvas.
    let (w, h) = (f(&s["canvas"]["width"]), f(&s["canvas"]["height"]));
    assert!(
        100.0 * scale <= w && 80.0 * scale <= h,
        "world {scale} px/unit in {w}×{h}"
    );
    assert!(
        scale * 100.0 > w * 0.5 || scale * 80.0 > h * 0.5,
        "the fit wastes the canvas"
    );
    assert_drawn_at(block, car1, scale, "block1");
    let pa = find(&s["players"], "id", "A");
    let pb = find(&s["players"], "id", "B");
    assert_eq!(
        (f(&pa["x"]), f(&pa["y"]), pa["followed"].as_bool()),
        (30.0, 65.0, Some(true))
    );
    assert_eq!(
        (f(&pb["x"]), f(&pb["y"]), pb["followed"].as_bool()),
        (80.0, 20.0, Some(false))
    );
    assert_drawn_at(pa, car1, scale, "player A");
    assert_drawn_at(pb, car1, scale, "player B");
    // Unity's +z is up on the map, +x to the right.
    close(f(&pa["facing"][0]), 0.0, 1e-6, "A faces up (x)");
    close(f(&pa["facing"][1]), -1.0, 1e-6, "A faces up (y)");
    close(f(&pb["facing"][0]), 1.0, 1e-6, "B faces right (x)");
    close(f(&pb["facing"][1]), 0.0, 1e-6, "B faces right (y)");
    let placed = &s["placed"];
    assert_eq!((f(&placed["x"]), f(&placed["y"])), (50.0, 65.0));
    assert_drawn_at(placed, car1, scale, "where GAMA placed A");
    browser.wait_text("#world-agents", "3").await;
    browser.wait_text("#world-players", "2").await;
    browser
        .wait(r#"#world-legend li[data-property="car"]"#)
        .await;
    browser
        .wait_text(r#"#world-legend li[data-property="car"]"#, "2 agents")
        .await;
    ((x1, y1), scale)
}

/// Hovering a car names it and its property (screenshot `admin-world-hover.png`); and a player.
async fn hovering_names_a_car_and_a_player(browser: &mut Browser) {
    browser
        .eval("document.querySelector('#world-canvas').scrollIntoView({block: 'center'})")
        .await;
    let s = browser.eval(SNAPSHOT).await;
    let car2 = find(&s["agents"], "name", "car2");
    let (cx, cy) = client(&s, car2);
    browser.mouse("move", cx, cy, 0.0).await;
    browser.wait_text("#world-hover", "car2").await;
    browser.wait_text("#world-hover", "property car").await;
    assert_eq!(
        browser.eval(&format!("{SNAPSHOT}.hover.title")).await,
        "car2"
    );
    browser
        .screenshot_of("#world-card", "admin-world-hover.png")
        .await;
    // And a player.
    browser
        .eval("document.querySelector('#world-canvas').scrollIntoView({block: 'center'})")
        .await;
    let s = browser.eval(SNAPSHOT).await;
    let (ax, ay) = client(&s, find(&s["players"], "id", "A"));
    browser.mouse("move", ax, ay, 0.0).await;
    browser
        .wait_text("#world-hover", "A: player (followed)")
        .await;
    browser.mouse("move", 2.0, 2.0, 0.0).await;
    browser
        .wait_fn(&format!("{SNAPSHOT}.hover === null"), 3000)
        .await;
}

/// A step moves car1 (drawn at `(x1, y1)` before, at `scale`); the background stays. The next step
/// is a full snapshot without car1: it disappears; the background stays.
async fn a_step_moves_car1_and_the_next_one_drops_it(
    browser: &mut Browser,
    gama: &FakeGama,
    (x1, y1): (f64, f64),
    scale: f64,
) {
    gama.send_linker_output(&linker_output(&["A"], STEP_1));
    let s1 = browser
        .wait_fn(
            &format!("(() => {{ const s = {SNAPSHOT}; const c = s.agents.find((a) => a.name === 'car1'); return c && c.x === 25 && s; }})()"),
            5000,
        )
        .await;
    let moved = find(&s1["agents"], "name", "car1");
    assert_eq!((f(&moved["y"]), f(&moved["heading"])), (35.0, 45.0));
    let (mx, my) = px(moved);
    close(mx - x1, 5.0 * scale, 1.0, "car1 moved right on the canvas");
    close(my - y1, 5.0 * scale, 1.0, "car1 moved down on the canvas");
    assert_eq!(s1["agents"].as_array().unwrap().len(), 3);
    // The next step is a full snapshot without car1: it disappears; the background stays.
    gama.send_linker_output(&linker_output(&["A"], STEP_2));
    let s2 = browser
        .wait_fn(
            &format!("(() => {{ const s = {SNAPSHOT}; return s.agents.some((a) => a.name === 'car3') && s; }})()"),
            5000,
        )
        .await;
    let mut names: Vec<&str> = s2["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["block1", "car2", "car3"]);
}

/// Zoom with the buttons (about the centre), back with "fit". Returns the fitted scale.
async fn the_buttons_zoom_about_the_centre_and_fit(browser: &mut Browser) -> f64 {
    let before = browser.eval(SNAPSHOT).await;
    let s0 = f(&before["view"]["scale"]);
    browser.click("#world-zoom-in").await;
    let zoomed = browser.eval(SNAPSHOT).await;
    close(f(&zoomed["view"]["scale"]), s0 * 1.5, 1e-6, "scale after +");
    let gap = |s: &Value| {
        f(&find(&s["agents"], "name", "car2")["px"])
            - f(&find(&s["agents"], "name", "block1")["px"])
    };
    close(gap(&zoomed), gap(&before) * 1.5, 0.5, "distances after +");
    browser.click("#world-fit").await;
    close(
        f(&browser.eval(SNAPSHOT).await["view"]["scale"]),
        s0,
        1e-6,
        "scale after fit",
    );
    s0
}

/// The wheel zooms about the pointer: what is under it stays there; dragging pans; then back to
/// "fit". Returns the view as fitted (scale `s0`) before the wheel.
async fn the_wheel_zooms_about_the_pointer_and_dragging_pans(
    browser: &mut Browser,
    s0: f64,
) -> Value {
    let fitted = browser.eval(SNAPSHOT).await;
    let car2_now = find(&fitted["agents"], "name", "car2");
    let (cx, cy) = client(&fitted, car2_now);
    browser.mouse("wheel", cx, cy, -300.0).await;
    let wheeled = browser
        .wait_fn(
            &format!(
                "(() => {{ const s = {SNAPSHOT}; return s.view.scale > {s0} * 1.2 && s; }})()"
            ),
            3000,
        )
        .await;
    let car2_after = find(&wheeled["agents"], "name", "car2");
    close(
        f(&car2_after["px"]),
        f(&car2_now["px"]),
        1.0,
        "car2 under the wheel (x)",
    );
    close(
        f(&car2_after["py"]),
        f(&car2_now["py"]),
        1.0,
        "car2 under the wheel (y)",
    );
    // Dragging pans.
    let (sx, sy) = (
        f(&fitted["canvas"]["left"]) + 30.0,
        f(&fitted["canvas"]["top"]) + 30.0,
    );
    browser.mouse("down", sx, sy, 0.0).await;
    browser.mouse("move", sx + 60.0, sy + 40.0, 0.0).await;
    browser.mouse("up", sx + 60.0, sy + 40.0, 0.0).await;
    let panned = browser.eval(SNAPSHOT).await;
    let car2_panned = find(&panned["agents"], "name", "car2");
    close(
        f(&car2_panned["px"]) - f(&car2_after["px"]),
        60.0,
        1.0,
        "pan x",
    );
    close(
        f(&car2_panned["py"]) - f(&car2_after["py"]),
        40.0,
        1.0,
        "pan y",
    );
    browser.click("#world-fit").await;
    fitted
}

/// Touch: two fingers apart zoom about their middle (from the fitted scale `s0`); a tap where car2
/// is in the `fitted` view shows it.
async fn two_fingers_zoom_and_a_tap_shows_what_is_under_it(
    browser: &mut Browser,
    s0: f64,
    fitted: &Value,
) {
    let pinched = browser
        .eval(&format!(
            "(() => {{ const c = document.querySelector('#world-canvas'); const r = c.getBoundingClientRect(); \
             const at = (type, id, x, y) => c.dispatchEvent(new PointerEvent(type, {{pointerId: id, pointerType: 'touch', isPrimary: id === 11, clientX: r.left + x, clientY: r.top + y, bubbles: true, cancelable: true}})); \
             const [x, y] = [r.width / 2, r.height / 2]; \
             at('pointerdown', 11, x - 50, y); at('pointerdown', 12, x + 50, y); \
             at('pointermove', 12, x + 150, y); at('pointerup', 12, x + 150, y); at('pointerup', 11, x - 50, y); \
             return {SNAPSHOT}; }})()"
        ))
        .await;
    close(
        f(&pinched["view"]["scale"]),
        s0 * 2.0,
        s0 * 0.01,
        "scale after spreading two fingers twice as far",
    );
    browser.click("#world-fit").await;
    let car2_now = find(&fitted["agents"], "name", "car2");
    let tap = client(fitted, car2_now);
    let (tx, ty) = (
        tap.0 - f(&fitted["canvas"]["left"]),
        tap.1 - f(&fitted["canvas"]["top"]),
    );
    browser
        .eval(&format!(
            "(() => {{ const c = document.querySelector('#world-canvas'); const r = c.getBoundingClientRect(); \
             for (const type of ['pointerdown', 'pointerup']) c.dispatchEvent(new PointerEvent(type, {{pointerId: 21, pointerType: 'touch', isPrimary: true, clientX: r.left + {tx}, clientY: r.top + {ty}, bubbles: true, cancelable: true}})); }})()"
        ))
        .await;
    browser.wait_text("#world-hover", "car2").await;
}

/// The keyboard: N goes through players and agents, Escape hides the tooltip.
async fn the_keyboard_goes_through_players_and_agents(browser: &mut Browser) {
    browser.focus("#world-canvas").await;
    browser.press("Escape").await;
    browser
        .wait_fn(&format!("{SNAPSHOT}.hover === null"), 3000)
        .await;
    browser.press("n").await;
    browser
        .wait_text("#world-hover", "A: player (followed)")
        .await;
    browser.press("n").await;
    browser.wait_text("#world-hover", "B: player").await;
    browser.press("Escape").await;
}

/// Following B: its own (empty) view, everyone's positions. Back to the first player in game: a
/// view opened mid-session starts from the relay's cache.
async fn following_b_then_the_first_player_again(browser: &mut Browser) {
    browser.select("#world-player", "B").await;
    browser
        .wait_fn(
            &format!("(() => {{ const s = {SNAPSHOT}; return s.player === 'B' && s.connected && s.players.length === 2 && s.agents.length === 0; }})()"),
            5000,
        )
        .await;
    assert_eq!(
        find(&browser.eval(SNAPSHOT).await["players"], "id", "B")["followed"],
        true
    );
    // Back to the first player in game: a view opened mid-session starts from the relay's cache.
    browser.select("#world-player", "").await;
    let again = browser
        .wait_fn(
            &format!("(() => {{ const s = {SNAPSHOT}; return s.player === 'A' && s.agents.some((a) => a.name === 'car3') && s.players.length === 2 && s; }})()"),
            5000,
        )
        .await;
    assert_eq!(again["world"], json!({"width": 100, "height": 80}));
    for name in ["block1", "car2", "car3"] {
        find(&again["agents"], "name", name);
    }
}

/// Dark colours and a phone: still readable, nothing wider than the screen (screenshots
/// `admin-world-dark.png`, `admin-world-mobile.png`, `admin-console-mobile.png`).
async fn in_dark_colours_and_on_a_phone(browser: &mut Browser) {
    browser
        .call(json!({"cmd": "color_scheme", "value": "dark"}))
        .await;
    browser
        .screenshot_of("#world-card", "admin-world-dark.png")
        .await;
    browser
        .call(json!({"cmd": "color_scheme", "value": "light"}))
        .await;
    browser.viewport(390, 844).await;
    browser
        .screenshot_of("#world-card", "admin-world-mobile.png")
        .await;
    browser
        .screenshot_of("#console-card", "admin-console-mobile.png")
        .await;
    assert_eq!(
        browser.horizontal_overflow().await,
        0,
        "the page scrolls sideways at 390 px"
    );
    browser.viewport(1280, 800).await;
}

// -------------------------------------------------------------------------------------------------
// Simulation clock
// -------------------------------------------------------------------------------------------------

fn rate_of(id: &str) -> String {
    format!(
        r#"parseFloat(document.querySelector('#players-grid [data-player="{id}"] .rate').dataset.rate ?? 'NaN')"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_page_shows_gama_s_pace_and_who_starves() {
    require_browser("the_page_shows_gama_s_pace_and_who_starves");
    let started = Instant::now();
    let gama = FakeGama::start(FakeGamaOptions {
        cycle_ms: 50,
        autorun: true,
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let relay = TestRelay::builder(&gama)
        .config(|c| c.session.auto_launch = false)
        .start()
        .await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    let _b = relay.join("B").await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    relay.wait_in_game(&["A", "B"]).await;
    let mut browser = Browser::start().await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;

    a_s_headset_plays_and_gets_about_20_outputs_a_second(&mut browser, &a).await;
    b_never_ready_is_starving_and_comes_first(&mut browser).await;
    let shot = browser.screenshot("admin-clock.png").await;
    paused_is_neither_a_stall_nor_starving(&mut browser, &gama).await;
    running_with_no_headset_ready_is_a_stall(&mut browser, &gama, &a).await;

    browser.assert_no_page_errors().await;
    browser.close().await;
    eprintln!(
        "clock test: {:.1} s; screenshot: {}",
        started.elapsed().as_secs_f64(),
        shot.display()
    );
}

/// A's headset loads and plays: a world update every cycle (50 ms), about 20 a second, for GAMA
/// and for A.
async fn a_s_headset_plays_and_gets_about_20_outputs_a_second(browser: &mut Browser, a: &Headset) {
    a.ask("send_init_data", &[("id", "A")]).await.unwrap();
    a.ask("player_ready_to_receive_geometries", &[("id", "A")])
        .await
        .unwrap();
    browser.wait(r#"#clock-status[data-state="flowing"]"#).await;
    let rate = browser
        .wait_fn(
            "(() => { const v = parseFloat(document.querySelector('#clock-rate').dataset.value); return v >= 12 && v; })()",
            5000,
        )
        .await;
    assert!(f(&rate) <= 28.0, "{rate} outputs a second");
    browser.wait_text("#clock-status", "outputs a second").await;
    let a_rate = browser
        .wait_fn(
            &format!(
                "(() => {{ const v = {}; return v >= 10 && v; }})()",
                rate_of("A")
            ),
            6000,
        )
        .await;
    assert!(f(&a_rate) <= 40.0, "A gets {a_rate} a second");
}

/// B is in game but never said it was ready: GAMA sends it nothing while its outputs flow. Its
/// tile says it starves and comes before A's; its detail says what is wrong, in words.
async fn b_never_ready_is_starving_and_comes_first(browser: &mut Browser) {
    browser
        .call(json!({"cmd": "wait", "selector": r#"#players-grid [data-player="B"][data-starving="true"]"#, "timeout_ms": 6000}))
        .await;
    browser
        .wait_text(r#"#players-grid [data-player="B"] .tile-state"#, "Starving")
        .await;
    browser
        .wait(r#"#players-grid [data-player="B"] svg.icon[data-name="warning"]"#)
        .await;
    assert_eq!(
        browser
            .eval(r#"document.querySelector('#players-grid [data-player="A"]').dataset.starving"#)
            .await,
        "false"
    );
    // Starving needs attention: B's tile comes before A's.
    assert_eq!(
        browser
            .eval("[...document.querySelectorAll('#players-grid .tile-item')].map((t) => t.dataset.player)")
            .await,
        json!(["B", "A"])
    );
    // Its detail says what is wrong, in words.
    browser
        .click(r#"#players-grid [data-player="B"] .tile"#)
        .await;
    browser
        .wait_text("#detail-problem", "nothing from GAMA for")
        .await;
    browser.press("Escape").await;
    browser.wait_hidden("#player-detail").await;
    assert!(browser.eval(&rate_of("B")).await.as_f64().unwrap() < 1.0);
}

/// Paused: no output, and that is not a stall (nor is B starving).
async fn paused_is_neither_a_stall_nor_starving(browser: &mut Browser, gama: &FakeGama) {
    gama.gui_pause();
    browser.wait(r#"#clock-status[data-state="paused"]"#).await;
    browser
        .call(json!({"cmd": "arm", "selector": "#clock-status[data-state=\"stalled\"], #players-grid [data-starving=\"true\"]", "timeout_ms": 3500}))
        .await;
    let stalled = browser.try_call(json!({"cmd": "await"})).await;
    assert_eq!(
        stalled["ok"], false,
        "paused showed a stall or a starving player: {stalled}"
    );
    browser.wait(r#"#clock-status[data-state="paused"]"#).await;
    browser
        .wait_text("#clock-status", "Paused: no output expected")
        .await;
}

/// Running again, but A's headset reloads (it is not ready for updates any more): GAMA runs with
/// players in game and sends nothing. Stalled, in words, with an icon and in the tab's title.
async fn running_with_no_headset_ready_is_a_stall(
    browser: &mut Browser,
    gama: &FakeGama,
    a: &Headset,
) {
    a.ask("send_init_data", &[("id", "A")]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    gama.gui_play();
    browser
        .call(json!({"cmd": "wait", "selector": "#clock-status[data-state=\"stalled\"]", "timeout_ms": 8000}))
        .await;
    browser
        .wait_text("#clock-status", "Stalled: no output for")
        .await;
    browser
        .wait(r#"#clock-status svg.icon[data-name="warning"]"#)
        .await;
    assert!(
        browser
            .eval("document.title")
            .await
            .as_str()
            .unwrap()
            .starts_with("Stalled"),
        "the tab title does not say it"
    );
}
