//! Where headsets connect, on the admin page: this computer's addresses and the headset port,
//! plainly while no headset has connected and a click away afterwards, each copyable; the
//! headsets waiting for an id another headset has. In a real headless Chromium, at a laptop's
//! and a tablet's size, with screenshots of the empty and the full Players panel
//! (`target/players-{empty,full}-{1280,820}.png`).

mod common;

#[path = "browser/harness.rs"]
mod harness;

use common::*;
use harness::*;
use relay_testkit::Headset;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_players_panel_says_where_headsets_connect() {
    require_browser("the_players_panel_says_where_headsets_connect");
    let gama = desktop().await;
    // The headset port on every interface, as in a classroom.
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.host = "0.0.0.0".into())
        .start()
        .await;
    relay.wait_gama().await;
    let (addresses, port) = the_relay_s_addresses_for_headsets(&relay).await;
    for size in [(1280, 800), (820, 1180)] {
        with_no_headset_the_panel_says_what_to_type(&relay, size, &addresses, &port).await;
    }
    let (_headsets, _intruder) = a_class_of_twelve_and_a_laptop_claiming_an_id(&relay).await;
    for size in [(1280, 800), (820, 1180)] {
        with_headsets_in_where_to_connect_is_a_click_away(&relay, size).await;
    }
}

/// The addresses the relay's state gives for headsets (none on loopback), and its headset port.
async fn the_relay_s_addresses_for_headsets(relay: &TestRelay) -> (Vec<String>, String) {
    let state = relay.state_json().await;
    let addresses: Vec<String> = state["headsets"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ip"].as_str().unwrap().to_string())
        .collect();
    let port = relay.headset_addr().port().to_string();
    for a in &addresses {
        let ip: std::net::IpAddr = a.parse().unwrap();
        assert!(!ip.is_loopback(), "{a}");
    }
    (addresses, port)
}

/// No headset yet, in a window of `width` × `height`: the block is open and says what to type,
/// each of the `addresses` with the `port`, the likely classroom address first and copyable
/// (screenshot `players-empty-<width>.png`).
async fn with_no_headset_the_panel_says_what_to_type(
    relay: &TestRelay,
    (width, height): (u32, u32),
    addresses: &[String],
    port: &str,
) {
    let mut browser = Browser::start().await;
    browser.viewport(width, height).await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    // No headset yet: the block is open and says what to type.
    browser.wait("#connect-help[open]").await;
    browser.wait_text("#connect-note", port).await;
    if addresses.is_empty() {
        browser
            .wait_text("#connect-none", "no network address yet")
            .await;
    } else {
        browser
            .wait_text("#connect-lead", "type this computer's address and the port")
            .await;
        for a in addresses {
            browser.wait_text("#connect-list", a).await;
        }
        assert_eq!(
            browser.count("#connect-list .connect-row").await,
            addresses.len() as u64
        );
        // The likely classroom address comes first, with the port beside it.
        browser
            .wait_text(
                "#connect-list .connect-row:first-child .connect-ip",
                &addresses[0],
            )
            .await;
        browser
            .wait_text("#connect-list .connect-row:first-child .connect-port", port)
            .await;
        browser
            .click("#connect-list .connect-row:first-child .copy")
            .await;
        browser
            .wait_fn(
                "['Copied', 'Select it to copy'].includes(document.querySelector('#connect-list .copy span').textContent)",
                3000,
            )
            .await;
    }
    assert_eq!(browser.horizontal_overflow().await, 0);
    browser
        .screenshot_of("section.players", &format!("players-empty-{width}.png"))
        .await;
    browser.close().await;
}

/// A class: twelve headsets, one of them claimed again from another address. Returns the headsets
/// and the laptop that claims an id, to keep them connected.
async fn a_class_of_twelve_and_a_laptop_claiming_an_id(
    relay: &TestRelay,
) -> (Vec<Headset>, Headset) {
    let mut headsets = Vec::new();
    for i in 0..12 {
        headsets.push(relay.join(&format!("Player_{}", 101 + i)).await);
    }
    let intruder = Headset::connect_from(relay.headset_addr(), "127.0.0.2".parse().unwrap())
        .await
        .unwrap();
    intruder.register("Player_101").await.unwrap();
    intruder.recv_type("error", T).await.unwrap();
    (headsets, intruder)
}

/// Headsets are in, in a window of `width` × `height`: the block is closed, a click away, and says
/// who waits for an id (screenshot `players-full-<width>.png`); once opened, a push from the relay
/// does not close it again.
async fn with_headsets_in_where_to_connect_is_a_click_away(
    relay: &TestRelay,
    (width, height): (u32, u32),
) {
    let mut browser = Browser::start().await;
    browser.viewport(width, height).await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(&tile("Player_112")).await;
    // Headsets are in: the block is closed, a click away.
    browser.wait("#connect-help:not([open])").await;
    browser
        .wait_text("#waiting-ids", "Player_101 at 127.0.0.2")
        .await;
    browser
        .screenshot_of("section.players", &format!("players-full-{width}.png"))
        .await;
    browser.click("#connect-summary").await;
    browser.wait("#connect-help[open]").await;
    // A push from the relay does not close it again: the teacher opened it.
    relay.join("Player_200").await;
    browser.wait(&tile("Player_200")).await;
    browser.wait("#connect-help[open]").await;
    browser.assert_no_page_errors().await;
    browser.close().await;
}

/// The headset port on loopback only: the page says headsets cannot reach it, and how to fix it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn a_headset_port_on_loopback_is_said_plainly() {
    require_browser("a_headset_port_on_loopback_is_said_plainly");
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let mut browser = Browser::start().await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait("#connect-help[open]").await;
    browser
        .wait_text("#connect-none", "listens on this computer only (127.0.0.1:")
        .await;
    browser.wait_text("#connect-none", "headsets.host").await;
    browser.assert_no_page_errors().await;
    browser.close().await;
}
