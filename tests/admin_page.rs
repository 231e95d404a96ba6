//! The admin page in a real browser: the system's headless Chromium, driven through playwright-core
//! by `tests/browser/admin_driver.mjs` (JSON lines over stdin/stdout), against a relay with a fake
//! GAMA and simulated headsets. The Rust side acts on the relay (headsets, restarts) and checks
//! through the relay's own state that what the page did happened.
//!
//! Needs `tests/browser/node_modules` (`npm ci` there; `scripts/test.sh` does it) and Chromium at
//! `/usr/bin/chromium` (Debian package `chromium`). Without them the test fails and says so.

mod common;

#[path = "browser/harness.rs"]
mod harness;

use std::time::Instant;

use common::*;
use harness::*;
use relay_testkit::{FakeGama, Headset};
use serde_json::json;

/// How long the page may take to show a headset's disconnection.
const LIVE_UPDATE_BUDGET_MS: u64 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_admin_page_follows_and_drives_the_relay() {
    require_browser("the_admin_page_follows_and_drives_the_relay");
    let started = Instant::now();
    let gama = desktop_autorun().await;
    let relay = TestRelay::builder(&gama)
        .players("3", "4")
        .config(|c| c.session.auto_launch = false)
        .start()
        .await;
    relay.wait_gama().await;
    let ids = ["Player_101", "Player_102", "Player_103"];
    let _first = relay.join(ids[0]).await;
    let dropping = relay.join(ids[1]).await;
    let removed = relay.join(ids[2]).await;
    let mut browser = Browser::start().await;
    browser.open(&format!("{}/", relay.base)).await;

    everything_the_relay_knows_is_on_the_page(&mut browser, &gama, &ids).await;
    a_player_s_detail_opens_from_its_tile_and_closes_with_escape(&mut browser, ids[0]).await;
    a_dropped_headset_shows_within_a_second_and_the_focus_stays(&mut browser, dropping, &ids).await;
    a_player_removed_from_its_detail_is_gone(&mut browser, &relay, &removed, ids[2]).await;
    launched_below_the_minimum_then_anyway(&mut browser, &relay, &gama, ids[0]).await;
    let (laptop, mobile) = nothing_is_wider_than_a_laptop_or_a_phone(&mut browser).await;
    paused_with_the_mouse_resumed_with_the_keyboard(&mut browser, &relay).await;
    stop_asks_first(&mut browser, &relay).await;
    let _relay = the_page_follows_the_relay_through_a_restart(&mut browser, relay, &gama).await;

    browser.assert_no_page_errors().await;
    browser.close().await;
    eprintln!(
        "admin page test: {:.1} s; screenshots: {} and {}",
        started.elapsed().as_secs_f64(),
        laptop.display(),
        mobile.display()
    );
}

/// Everything the relay knows is on the page: the relay's link, GAMA's, the experiment, the
/// players (`ids`), the model and its limits.
async fn everything_the_relay_knows_is_on_the_page(
    browser: &mut Browser,
    gama: &FakeGama,
    ids: &[&str],
) {
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    browser
        .wait(r#"#gama-connection[data-state="connected"]"#)
        .await;
    browser
        .wait_text("#gama-address", &gama.addr().to_string())
        .await;
    browser
        .wait(r#"#experiment-state[data-state="NONE"]"#)
        .await;
    for id in ids {
        browser.wait(&tile_in(id, "connected")).await;
    }
    assert_eq!(browser.count("#players-grid .tile-item").await, 3);
    browser.wait_text("#count-connected", "3").await;
    browser.wait_text("#limits", "3 to 4 players").await;
    browser.wait_text("#model-name", "Demo").await;
    browser
        .wait(r#"#catalog button[data-model="0"][aria-pressed="true"]"#)
        .await;
}

/// Registration is counted: the player's detail shows its traffic (keep-alive answers may add to
/// it on a slow machine). It opens from the tile and closes with Escape, giving the focus back to
/// the tile.
async fn a_player_s_detail_opens_from_its_tile_and_closes_with_escape(
    browser: &mut Browser,
    id: &str,
) {
    browser.click(&format!("{} .tile", tile(id))).await;
    browser.wait("#player-detail[open]").await;
    browser.wait_text("#detail-title", id).await;
    browser
        .wait_text(&detail_field("received"), " message")
        .await;
    browser
        .wait_text(&detail_field("address"), "127.0.0.1")
        .await;
    browser.close_detail_back_to(id).await;
}

/// With the keyboard's focus on the first tile, the second headset (`dropping`) drops off the
/// network: its tile says so within a second and comes first, needing attention; the focus stays.
async fn a_dropped_headset_shows_within_a_second_and_the_focus_stays(
    browser: &mut Browser,
    dropping: Headset,
    ids: &[&str],
) {
    // Keyboard focus survives the live updates (tiles are updated in place).
    let focus_first = format!(
        r#"document.querySelector('{} .tile').focus()"#,
        tile(ids[0])
    );
    browser.eval(&focus_first).await;

    // A headset drops off the network: its row says so within a second.
    browser
        .call(
            json!({"cmd": "arm", "selector": tile_in(ids[1], "disconnected"), "timeout_ms": 3000}),
        )
        .await;
    dropping.abort();
    let seen = browser.call(json!({"cmd": "await"})).await;
    let elapsed = seen["elapsed_ms"].as_u64().unwrap();
    eprintln!("the page showed the disconnection {elapsed} ms after it happened");
    assert!(
        elapsed < LIVE_UPDATE_BUDGET_MS,
        "the page showed the disconnection after {elapsed} ms"
    );
    browser.wait_text(&tile(ids[1]), "Disconnected").await;
    browser.wait_text("#count-disconnected", "1").await;
    // A disconnected player needs attention: its tile comes first.
    assert_eq!(
        browser
            .eval("document.querySelector('#players-grid .tile-item').dataset.player")
            .await,
        ids[1]
    );
    browser
        .wait_text("#players-attention", "1 needs attention")
        .await;
    assert_eq!(
        browser
            .eval("document.activeElement.closest('[data-player]')?.dataset.player")
            .await,
        ids[0],
        "the focused tile lost its focus when the page updated"
    );
}

/// Remove a player (`id`, its headset `removed`) from its detail: the page asks first, then the
/// relay no longer has it and its headset is disconnected.
async fn a_player_removed_from_its_detail_is_gone(
    browser: &mut Browser,
    relay: &TestRelay,
    removed: &Headset,
    id: &str,
) {
    browser.click(&format!("{} .tile", tile(id))).await;
    browser.wait("#player-detail[open]").await;
    browser
        .click(r#"#player-detail button[data-action="remove"]"#)
        .await;
    browser.wait("#confirm[open]").await;
    browser.wait_text("#confirm-title", id).await;
    browser.click("#confirm-ok").await;
    relay
        .wait("the removed player gone", |s| player(s, id).is_none())
        .await;
    assert!(
        relay.player_json(id).await.is_none(),
        "GET /api/state still lists {id}"
    );
    browser.wait_gone(&tile(id)).await;
    browser.wait_hidden("#player-detail").await;
    browser
        .wait_text("#message", &format!("{id} removed"))
        .await;
    removed
        .wait_closed(T)
        .await
        .expect("the removed player's headset is disconnected");
}

/// Launch below the model's minimum: the relay's refusal is shown, then "launch anyway" starts the
/// experiment with the one player left (`id`).
async fn launched_below_the_minimum_then_anyway(
    browser: &mut Browser,
    relay: &TestRelay,
    gama: &FakeGama,
    id: &str,
) {
    browser.click("#launch").await;
    browser
        .wait_text("#message", "needs at least 3 players")
        .await;
    browser.wait("#confirm[open]").await;
    browser.wait_text("#confirm-ok", "Launch anyway").await;
    browser.click("#confirm-ok").await;
    browser
        .wait(r#"#experiment-state[data-state="RUNNING"]"#)
        .await;
    browser.wait(&tile_in(id, "in_game")).await;
    relay.wait_in_game(&[id]).await;
    assert_eq!(gama.commands_of_type("load").len(), 1);
    browser.wait_text("#message", "launched").await;
    browser.wait_text("#experiment-name", EXPERIMENT).await;
    browser.wait_text("#count-in-game", "1").await;
}

/// Nothing wider than the screen on a laptop (1280 px) nor on a phone (390 px), whose tiles come
/// in fewer columns. Returns the screenshots `admin-page.png` and `admin-page-mobile.png`.
async fn nothing_is_wider_than_a_laptop_or_a_phone(
    browser: &mut Browser,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let laptop = browser.screenshot("admin-page.png").await;
    let overflow = browser
        .eval("[document.documentElement, document.querySelector('#players-grid')].map((e) => e.scrollWidth - e.clientWidth)")
        .await;
    assert_eq!(
        overflow,
        json!([0, 0]),
        "the page or its player grid scrolls sideways at 1280 px"
    );
    browser.viewport(390, 844).await;
    let mobile = browser.screenshot("admin-page-mobile.png").await;
    // Phones get the tiles in fewer columns, nothing wider than the screen.
    let overflow = browser.horizontal_overflow().await;
    assert_eq!(overflow, 0, "the page scrolls sideways at 390 px");
    browser.viewport(1280, 800).await;
    (laptop, mobile)
}

/// Pause with the mouse, resume with the keyboard (Tab from Pause, Enter).
async fn paused_with_the_mouse_resumed_with_the_keyboard(browser: &mut Browser, relay: &TestRelay) {
    browser.click("#pause").await;
    browser
        .wait(r#"#experiment-state[data-state="PAUSED"]"#)
        .await;
    relay.wait_experiment("PAUSED").await;
    browser.wait(r#"#resume[aria-disabled="false"]"#).await;
    assert_eq!(browser.eval("document.activeElement.id").await, "pause");
    browser.call(json!({"cmd": "press", "key": "Tab"})).await;
    assert_eq!(browser.eval("document.activeElement.id").await, "resume");
    browser.call(json!({"cmd": "press", "key": "Enter"})).await;
    browser
        .wait(r#"#experiment-state[data-state="RUNNING"]"#)
        .await;
    relay.wait_experiment("RUNNING").await;
}

/// Stop asks first; Escape keeps the experiment, confirming stops it.
async fn stop_asks_first(browser: &mut Browser, relay: &TestRelay) {
    browser.click("#stop").await;
    browser.wait("#confirm[open]").await;
    browser.call(json!({"cmd": "press", "key": "Escape"})).await;
    browser.wait_hidden("#confirm").await;
    assert_eq!(
        relay.state_json().await["gama"]["experiment_state"],
        "RUNNING"
    );
    browser.click("#stop").await;
    browser.wait("#confirm[open]").await;
    browser.click("#confirm-ok").await;
    browser
        .wait(r#"#experiment-state[data-state="NONE"]"#)
        .await;
    relay.wait_experiment("NONE").await;
}

/// The relay restarts on the same port: the page says it is away, then follows the new one (which
/// has no players). Returns the new relay, to run until the test ends.
async fn the_page_follows_the_relay_through_a_restart(
    browser: &mut Browser,
    relay: TestRelay,
    gama: &FakeGama,
) -> TestRelay {
    let port = relay.handle().admin_addr().port();
    relay.shutdown().await;
    browser.wait(r#"#relay-link[data-state="down"]"#).await;
    browser
        .wait_text("#relay-link", "Relay unreachable, reconnecting")
        .await;
    // Running until the test ends (dropped then).
    let relay = TestRelay::builder(gama)
        .players("3", "4")
        .config(|c| {
            c.session.auto_launch = false;
            c.admin.port = port;
        })
        .start()
        .await;
    browser
        .call(json!({"cmd": "wait", "selector": r#"#relay-link[data-state="live"]"#, "timeout_ms": 8000}))
        .await;
    browser.wait_gone("#players-grid .tile-item").await;
    browser.wait(r#"#players-empty"#).await;
    relay
}

/// A splash image for the learning package, to check images carry the token.
const SPLASH_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180" viewBox="0 0 320 180"><rect width="320" height="180" fill="#2f6f4e"/><circle cx="250" cy="50" r="28" fill="#f6d365"/><path d="M0 180l90-90 60 60 40-40 130 70z" fill="#1d3b2a"/></svg>"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_admin_page_asks_for_the_token_and_keeps_it() {
    require_browser("the_admin_page_asks_for_the_token_and_keeps_it");
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .players("0", "4")
        .config(|c| {
            c.session.auto_launch = false;
            c.admin.token = "t0k3n".into();
        })
        .start()
        .await;
    the_package_gets_a_splash_image(&relay).await;
    relay.wait_gama().await;
    let _headset = relay.join("Player_101").await;

    let mut browser = Browser::start().await;
    without_the_token_the_page_asks_for_it(&mut browser, &relay).await;
    // The address the relay prints, pasted into the tab that asks: the token is taken from the
    // fragment, kept, and removed from the address bar.
    browser.call(json!({"cmd": "clear_storage"})).await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait("#token-form").await;
    the_token_in_the_address_is_kept_and_removed_from_it(&mut browser, &relay).await;
    // The same address opened in a fresh tab.
    browser.call(json!({"cmd": "clear_storage"})).await;
    browser.open("about:blank").await;
    the_token_in_the_address_is_kept_and_removed_from_it(&mut browser, &relay).await;
    the_splash_image_is_fetched_with_the_token(&mut browser).await;
    rescan_lists_another_package_and_select_picks_it(&mut browser, &relay).await;

    // Next visit: the kept token is used.
    browser.open("about:blank").await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(&tile_in("Player_101", "connected")).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    browser.assert_no_page_errors().await;
    browser.close().await;
}

/// The package gets a splash image; the relay reads the packages again.
async fn the_package_gets_a_splash_image(relay: &TestRelay) {
    let package = relay.packages.path().join("Demo");
    std::fs::write(package.join("splash.svg"), SPLASH_SVG).unwrap();
    let settings = std::fs::read_to_string(package.join("settings.json")).unwrap();
    std::fs::write(
        package.join("settings.json"),
        settings.replacen('{', r#"{"splashscreen":"splash.svg","#, 1),
    )
    .unwrap();
    let rescan = relay
        .http
        .post(format!("{}/api/models/rescan", relay.base))
        .bearer_auth("t0k3n")
        .send()
        .await
        .unwrap();
    assert_eq!(rescan.status().as_u16(), 200);
}

/// Without the token: the page asks for it instead of failing silently. A wrong token is refused
/// and asked again; the right one opens the page, live socket included (?token= on /api/events).
async fn without_the_token_the_page_asks_for_it(browser: &mut Browser, relay: &TestRelay) {
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait("#token-form").await;
    browser.wait(r#"#relay-link[data-state="locked"]"#).await;
    browser.wait_hidden("#main").await;
    browser.screenshot("admin-page-token.png").await;
    // A wrong token is refused and asked again.
    browser.fill("#token-input", "not-the-token").await;
    browser.click("#token-submit").await;
    browser.wait_text("#auth-why", "refused").await;
    browser.wait("#token-form").await;
    // The right one opens the page, live socket included (?token= on /api/events).
    browser.fill("#token-input", "t0k3n").await;
    browser.click("#token-submit").await;
    browser.wait_hidden("#auth").await;
    browser.wait(&tile_in("Player_101", "connected")).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
}

/// The address the relay prints (`#token=`) opened: the page is live, the token kept and gone from
/// the address bar.
async fn the_token_in_the_address_is_kept_and_removed_from_it(
    browser: &mut Browser,
    relay: &TestRelay,
) {
    browser.open(&format!("{}/#token=t0k3n", relay.base)).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    browser.wait(&tile_in("Player_101", "connected")).await;
    assert_eq!(
        browser.eval("location.href").await,
        format!("{}/", relay.base)
    );
    assert_eq!(
        browser
            .eval("localStorage.getItem('gama-vr-relay.token')")
            .await,
        "t0k3n"
    );
}

/// The splash image is fetched with the token.
async fn the_splash_image_is_fetched_with_the_token(browser: &mut Browser) {
    browser.wait("#catalog img").await;
    let loaded = browser
        // The catalog may be drawn again meanwhile (a state push naming its version), replacing the
        // element: poll whichever image is current rather than wait for one element's events.
        .call(json!({"cmd": "eval", "expr": "new Promise((resolve) => { const t0 = Date.now(); const check = () => { const img = document.querySelector('#catalog img'); const late = Date.now() - t0 > 10000; if (img && img.complete && (img.naturalWidth > 0 || late)) resolve({src: img.getAttribute('src'), width: img.naturalWidth}); else if (late) resolve({src: img && img.getAttribute('src'), width: -1}); else setTimeout(check, 50); }; check(); })"}))
        .await;
    assert!(
        loaded["value"]["src"]
            .as_str()
            .unwrap()
            .ends_with("/splash?token=t0k3n"),
        "{loaded}"
    );
    assert_eq!(
        loaded["value"]["width"], 320,
        "the splash image did not load: {loaded}"
    );
}

/// Another package appears: Rescan lists it, Select makes it the one a launch loads.
async fn rescan_lists_another_package_and_select_picks_it(
    browser: &mut Browser,
    relay: &TestRelay,
) {
    write_package(relay.packages.path(), "Other", "0", "8");
    browser.click("#rescan").await;
    browser.click(r#"#catalog button[data-model="1"]"#).await;
    relay
        .wait("the second model selected", |s| {
            s.model.as_ref().is_some_and(|m| m.index == 1)
        })
        .await;
    browser.wait_text("#model-name", "Other").await;
    browser
        .wait(r#"#catalog button[data-model="1"][aria-pressed="true"]"#)
        .await;
    browser.wait_text("#limits", "up to 8 players").await;
}
