//! Headset screens in a real headless Chromium: the projector page (`/screens`, 1920×1080) decodes
//! and draws every stand-in headset's H.264 picture (made by Debian's ffmpeg) with WebCodecs, each
//! in its own shape, and enlarges the one chosen from the admin page on a tablet; the admin page
//! shows a headset's screen on demand and a player's own screen in its details. A headset that
//! vanishes mid-stream and a malformed stream leave the other screens playing. Screenshots:
//! `target/screens-projector*.png`, `target/screens-card.png`, `target/screens-detail.png`.

mod common;

#[path = "browser/harness.rs"]
mod harness;

use std::net::Ipv4Addr;

use common::*;
use harness::*;
use relay_testkit::adb::Garbage;
use relay_testkit::h264::sample;
use relay_testkit::{FakeAdb, FakeDevice};
use serde_json::Value;

/// The projector page's screens as it shows them.
async fn projector(browser: &mut Browser) -> Value {
    browser.eval("window.screensView.snapshot()").await
}

fn screen<'a>(snapshot: &'a Value, serial: &str) -> &'a Value {
    snapshot["screens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["serial"] == serial)
        .unwrap_or_else(|| panic!("no screen {serial} in {snapshot}"))
}

/// Waits until the projector page has drawn at least `frames` pictures of each of `serials`.
async fn wait_playing(browser: &mut Browser, serials: &[&str], frames: u64) {
    let list = serde_json::to_string(serials).unwrap();
    browser
        .wait_fn(
            &format!(
                "(() => {{ const s = window.screensView?.snapshot(); return s && {list}.every((serial) => s.screens.some((x) => x.serial === serial && x.frames >= {frames})); }})()"
            ),
            20_000,
        )
        .await;
}

fn frames_of(snapshot: &Value, serial: &str) -> u64 {
    screen(snapshot, serial)["frames"].as_u64().unwrap()
}

fn rect(s: &Value) -> (f64, f64, f64, f64) {
    let r = &s["rect"];
    (
        r["x"].as_f64().unwrap(),
        r["y"].as_f64().unwrap(),
        r["width"].as_f64().unwrap(),
        r["height"].as_f64().unwrap(),
    )
}

/// Every screen inside the 1920×1080 window, none over another.
fn assert_fits(snapshot: &Value) {
    let screens = snapshot["screens"].as_array().unwrap();
    for s in screens {
        let (x, y, w, h) = rect(s);
        assert!(
            x >= 0.0 && y >= 0.0 && x + w <= 1920.5 && y + h <= 1080.5,
            "{s}"
        );
        assert!(w > 100.0 && h > 60.0, "too small: {s}");
    }
    for (i, a) in screens.iter().enumerate() {
        for b in &screens[i + 1..] {
            let (ax, ay, aw, ah) = rect(a);
            let (bx, by, bw, bh) = rect(b);
            let apart = ax + aw <= bx + 0.5
                || bx + bw <= ax + 0.5
                || ay + ah <= by + 0.5
                || by + bh <= ay + 0.5;
            assert!(apart, "{a} overlaps {b}");
        }
    }
}

/// The headsets whose screens play (all but the one that waits for USB debugging): Alice's first.
const PLAYING: [&str; 4] = [
    "2G0YC1ZF8B0001",
    "192.0.2.21:5555",
    "192.0.2.22:5555",
    "192.0.2.23:5555",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium, playwright-core and ffmpeg: scripts/test.sh runs it"]
async fn every_headset_screen_plays_on_the_projector_and_in_the_admin_page() {
    require_browser("every_headset_screen_plays_on_the_projector_and_in_the_admin_page");
    relay_testkit::prereq::require(
        "every_headset_screen_plays_on_the_projector_and_in_the_admin_page",
        relay_testkit::h264::ffmpeg_or_missing().err(),
    );
    let adb = five_headsets_one_locked().await;
    let jar = tempfile::tempdir().unwrap();
    let server_file = jar.path().join("scrcpy-server");
    std::fs::write(&server_file, b"stand-in scrcpy server").unwrap();
    let gama = desktop().await;
    let adb_server = adb.addr().to_string();
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.mirror.adb_server = adb_server;
            c.mirror.scrcpy_server = server_file;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let _alice = relay.join("alice").await;
    relay
        .get_until("/api/screens", "five headsets, alice's matched", |s| {
            let devices = s["devices"].as_array().unwrap();
            devices.len() == 5 && devices.iter().any(|d| d["player"] == "alice")
        })
        .await;

    let (mut wall, snap) = the_projector_draws_every_screen_in_its_own_shape(&relay).await;
    players_screens_come_first_really_drawn(&mut wall, &snap).await;
    let mut tablet = the_tablet_enlarges_alice_s_screen_on_the_projector(&relay, &mut wall).await;
    the_tablet_shows_a_screen_on_demand_and_alice_s_in_her_details(&mut tablet).await;
    a_vanished_headset_and_a_garbled_stream_leave_the_rest_playing(&mut wall, &adb).await;
    wall.assert_no_page_errors().await;
    tablet.assert_no_page_errors().await;
    tablet.close().await;

    // Back to every screen the same size, chosen on the projector page itself (a click).
    wall.click(r#"[data-serial="2G0YC1ZF8B0001"]"#).await;
    wall.wait_fn("window.screensView.snapshot().focus === null", 5000)
        .await;
    wall.close().await;

    // The projector page in Thai, the headsets' screens still drawn.
    let mut thai = Browser::start_in("th-TH").await;
    thai.viewport(1920, 1080).await;
    thai.open(&format!("{}/screens", relay.base)).await;
    wait_playing(&mut thai, &["2G0YC1ZF8B0001", "192.0.2.21:5555"], 5).await;
    thai.wait_text(".title", "หน้าจอแว่น").await;
    thai.screenshot("screens-projector-th.png").await;
    thai.close().await;
}

/// A stand-in ADB server with five headsets: Alice's plugged in by USB (matched to her by its
/// Wi-Fi address), three on Wi-Fi (one of them square), all playing a stand-in H.264 picture, and
/// one that waits for USB debugging to be allowed.
async fn five_headsets_one_locked() -> FakeAdb {
    let wide = sample(960, 540, 30, 30).await.unwrap();
    let square = sample(640, 640, 30, 30).await.unwrap();
    let adb = FakeAdb::start().await.unwrap();
    // Alice's headset, plugged in by USB: matched to her by its Wi-Fi address.
    adb.add_device(
        FakeDevice::quest3("2G0YC1ZF8B0001")
            .with_picture(wide.clone())
            .with_wlan_address(Ipv4Addr::LOCALHOST),
    );
    adb.add_device(FakeDevice::quest3("192.0.2.21:5555").with_picture(square.clone()));
    adb.add_device(FakeDevice::quest3("192.0.2.22:5555").with_picture(wide.clone()));
    adb.add_device(FakeDevice::quest3("192.0.2.23:5555").with_picture(wide.clone()));
    adb.add_device(FakeDevice::quest3("2G0YC1ZF8B0009").with_state("unauthorized"));
    adb
}

/// The projector: every screen decoded and drawn in its own shape, all in one 1080p window; the
/// locked headset says what to do. Returns the projector's browser and its screens.
async fn the_projector_draws_every_screen_in_its_own_shape(relay: &TestRelay) -> (Browser, Value) {
    let mut wall = Browser::start().await;
    wall.viewport(1920, 1080).await;
    wall.open(&format!("{}/screens", relay.base)).await;
    wait_playing(&mut wall, &PLAYING, 10).await;
    let snap = projector(&mut wall).await;
    assert_eq!(snap["link"], "live", "{snap}");
    assert_eq!(snap["banner"], "", "{snap}");
    let alice = screen(&snap, "2G0YC1ZF8B0001");
    assert_eq!(
        alice["name"], "alice",
        "a matched headset is named after its player"
    );
    assert_eq!(
        (alice["width"].as_u64(), alice["height"].as_u64()),
        (Some(960), Some(540))
    );
    let sq = screen(&snap, "192.0.2.21:5555");
    assert_eq!(
        (sq["width"].as_u64(), sq["height"].as_u64()),
        (Some(640), Some(640))
    );
    let locked = screen(&snap, "2G0YC1ZF8B0009");
    assert!(
        locked["overlay"]
            .as_str()
            .unwrap()
            .contains("allow USB debugging"),
        "{locked}"
    );
    assert_fits(&snap);
    (wall, snap)
}

/// Players' screens first (in the projector's screens `snap`): Alice's is the top left one. Really
/// drawn: the canvas holds a picture, not a blank (screenshot `screens-projector.png`).
async fn players_screens_come_first_really_drawn(wall: &mut Browser, snap: &Value) {
    let first = snap["screens"]
        .as_array()
        .unwrap()
        .iter()
        .min_by(|a, b| {
            let (ra, rb) = (rect(a), rect(b));
            (ra.1.round(), ra.0)
                .partial_cmp(&(rb.1.round(), rb.0))
                .unwrap()
        })
        .unwrap();
    assert_eq!(first["serial"], "2G0YC1ZF8B0001");
    // Really drawn: the canvas holds a picture, not a blank.
    let colours = wall
        .eval(
            "(() => { const c = document.querySelector('[data-serial=\"2G0YC1ZF8B0001\"] canvas'); \
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
             const seen = new Set(); for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] >> 4 << 8 | d[i + 1] >> 4 << 4 | d[i + 2] >> 4); \
             return seen.size; })()",
        )
        .await;
    assert!(
        colours.as_u64().unwrap() > 8,
        "the picture has {colours} colours"
    );
    wall.screenshot("screens-projector.png").await;
}

/// The tablet: the card lists every headset; "Show on the projector" enlarges Alice's, larger than
/// every other (screenshot `screens-projector-focus.png`). Returns the tablet's browser.
async fn the_tablet_enlarges_alice_s_screen_on_the_projector(
    relay: &TestRelay,
    wall: &mut Browser,
) -> Browser {
    let mut tablet = Browser::start().await;
    tablet.viewport(820, 1180).await;
    tablet.open(&format!("{}/", relay.base)).await;
    tablet.wait(r#"#relay-link[data-state="live"]"#).await;
    tablet.wait_text("#screens-list", "alice").await;
    assert_eq!(tablet.count("#screens-list .screen-row").await, 5);
    tablet
        .wait_text(
            r#"#screens-list [data-serial="2G0YC1ZF8B0009"] .screen-problem"#,
            "allow USB debugging",
        )
        .await;
    tablet
        .click(r#"#screens-list [data-serial="2G0YC1ZF8B0001"] button[data-action="project"]"#)
        .await;
    tablet
        .wait_text("#screens-projector", "The projector enlarges alice.")
        .await;
    wall.wait_fn(
        "window.screensView.snapshot().focus === '2G0YC1ZF8B0001'",
        5000,
    )
    .await;
    // The enlarged screen settles (its move is animated) larger than every other.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let snap = projector(wall).await;
    assert_fits(&snap);
    let big = rect(screen(&snap, "2G0YC1ZF8B0001"));
    for serial in &PLAYING[1..] {
        let other = rect(screen(&snap, serial));
        assert!(
            big.2 > 2.5 * other.2,
            "enlarged {big:?} vs {serial} {other:?}"
        );
    }
    assert!(
        big.2 > 1200.0,
        "the enlarged screen is {big:?} wide on 1920"
    );
    wall.screenshot("screens-projector-focus.png").await;
    tablet
}

/// On the tablet, a headset's screen on demand, in its own shape; Alice's details show her screen
/// while open (screenshots `screens-card.png`, `screens-detail.png`).
async fn the_tablet_shows_a_screen_on_demand_and_alice_s_in_her_details(tablet: &mut Browser) {
    tablet
        .click(r#"#screens-list [data-serial="192.0.2.21:5555"] button[data-action="watch"]"#)
        .await;
    tablet
        .wait_fn(
            "window.screensCard.snapshot().rows.some((r) => r.serial === '192.0.2.21:5555' && r.frames >= 5 && r.width === 640 && r.height === 640)",
            15_000,
        )
        .await;
    tablet
        .screenshot_of("#screens-card", "screens-card.png")
        .await;
    // Alice's details show her screen while open.
    tablet.click(&tile("alice")).await;
    tablet.wait("#player-detail[open]").await;
    tablet
        .wait_fn(
            "(window.screensCard.snapshot().dialog?.frames ?? 0) >= 5",
            15_000,
        )
        .await;
    tablet
        .screenshot_of("#player-detail", "screens-detail.png")
        .await;
    tablet.close_detail_back_to("alice").await;
    assert!(
        tablet
            .eval("window.screensCard.snapshot().dialog")
            .await
            .is_null()
    );
}

/// A headset vanishes mid-stream and another's stream turns to garbage: the rest play on, and the
/// garbled one starts again by itself.
async fn a_vanished_headset_and_a_garbled_stream_leave_the_rest_playing(
    wall: &mut Browser,
    adb: &FakeAdb,
) {
    let before = projector(wall).await;
    adb.remove_device("192.0.2.23:5555");
    adb.malformed_with("192.0.2.22:5555", Garbage::HugeSize);
    wall.wait_fn(
        "!window.screensView.snapshot().screens.some((s) => s.serial === '192.0.2.23:5555')",
        10_000,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let after = projector(wall).await;
    for serial in ["2G0YC1ZF8B0001", "192.0.2.21:5555"] {
        let (a, b) = (frames_of(&before, serial), frames_of(&after, serial));
        assert!(b >= a + 30, "{serial} drew {a} then {b} frames over 2 s");
    }
    // The garbled one starts again by itself.
    wait_playing(
        wall,
        &["192.0.2.22:5555"],
        frames_of(&after, "192.0.2.22:5555") + 10,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn without_adb_the_page_says_in_one_line_what_to_install() {
    require_browser("without_adb_the_page_says_in_one_line_what_to_install");
    let gama = desktop().await;
    // tests/common: nothing answers where ADB should be, and no adb is started.
    let relay = TestRelay::new(&gama).await;
    let mut browser = Browser::start().await;
    browser.viewport(1280, 800).await;
    browser.open(&format!("{}/", relay.base)).await;
    browser
        .wait_text(
            "#screens-unavailable",
            "install Android platform-tools (adb)",
        )
        .await;
    assert_eq!(browser.count("#screens-list .screen-row").await, 0);
    browser
        .screenshot_of("#screens-card", "screens-card-no-adb.png")
        .await;
    browser.open(&format!("{}/screens", relay.base)).await;
    browser
        .wait_text("#empty-text", "install Android platform-tools (adb)")
        .await;
    browser.screenshot("screens-projector-no-adb.png").await;
    browser.assert_no_page_errors().await;
    browser.close().await;
}
