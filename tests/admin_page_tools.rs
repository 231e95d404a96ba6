//! The admin page when a Python tool takes desktop GAMA: the page says which tool (address) loaded
//! which model and that the session ended; Launch stays available and brings the session back;
//! Recent changes lists the tool's load and its leaving. In a real headless Chromium, with a
//! screenshot (`target/admin-page-tool.png`).

mod common;

#[path = "browser/harness.rs"]
mod harness;

use common::*;
use futures_util::{SinkExt, StreamExt};
use harness::*;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_page_says_which_tool_took_gama_and_launch_takes_it_back() {
    require_browser("the_page_says_which_tool_took_gama_and_launch_takes_it_back");
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("Player_101").await;
    relay.launch().await;
    relay.wait_in_game(&["Player_101"]).await;
    let mut browser = Browser::start().await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(&tile_in("Player_101", "in_game")).await;

    // A training script loads its model through the tool endpoint.
    let addr = relay.handle().passthrough_addr().unwrap();
    let (mut tool, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    let address = tool.get_ref().get_ref().local_addr().unwrap().to_string();
    tool.next().await.unwrap().unwrap();
    tool.send(Message::text(
        r#"{"type":"load","model":"/home/me/models/gym_walk.gaml","experiment":"gym_xp","api_id":"1"}"#,
    ))
    .await
    .unwrap();
    loop {
        let Message::Text(t) = tool.next().await.unwrap().unwrap() else {
            continue;
        };
        if t.contains(r#""api_id":"1""#) {
            break;
        }
    }
    expect_in_game(&a, false).await;
    browser.wait("#gama-tool:not([hidden])").await;
    browser
        .wait_text(
            "#gama-tool",
            &format!("A tool at {address} loaded /home/me/models/gym_walk.gaml (gym_xp) in GAMA"),
        )
        .await;
    browser.wait(&tile_in("Player_101", "connected")).await;
    browser.wait("#launch:not([disabled])").await;
    browser
        .wait_text("#audit-list", "load /home/me/models/gym_walk.gaml")
        .await;
    browser.screenshot("admin-page-tool.png").await;

    // The tool leaves: desktop GAMA keeps its experiment, and the page says so.
    tool.close(None).await.unwrap();
    browser.wait_text("#gama-tool", "that has left").await;
    browser
        .wait_text(
            "#audit-list",
            "a tool left: GAMA keeps its experiment gym_xp",
        )
        .await;
    browser.screenshot("admin-page-tool-left.png").await;

    // Launch takes GAMA back for the session.
    browser.click("#launch").await;
    relay.wait_in_game(&["Player_101"]).await;
    browser.wait_hidden("#gama-tool").await;
    browser.wait(&tile_in("Player_101", "in_game")).await;
    browser.assert_no_page_errors().await;
    browser.close().await;
}
