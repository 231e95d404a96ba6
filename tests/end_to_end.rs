//! A whole session through the relay: GAMA with the SIMPLE linker, Unity headsets, an operator.

mod common;

use common::*;
use relay_testkit::FakeGama;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classroom_session_plays_through_the_relay() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama).players("1", "4").start().await;
    relay.wait_gama().await;

    let a = relay.join("Player_101").await;
    let b = relay.join("Player_102").await;
    relay.launch().await;
    relay.wait_experiment("PAUSED").await;
    gama.wait_players(&["Player_101", "Player_102"], T)
        .await
        .unwrap();
    expect_in_game(&a, true).await;
    expect_in_game(&b, true).await;
    relay.wait_in_game(&["Player_101", "Player_102"]).await;

    // Unity asks for its initial data; the linker answers through the relay.
    a.ask("send_init_data", &[("id", "Player_101")])
        .await
        .unwrap();
    let (raw, first) = a.recv_json_output(T).await.unwrap();
    assert!(
        raw.starts_with(r#"{"contents":{"precision":10000,"#),
        "{raw}"
    );
    assert!(raw.ends_with(r#","type":"json_output"}"#), "{raw}");
    assert!(
        !raw.contains("100.0"),
        "numbers as JavaScript prints them: {raw}"
    );
    assert_eq!(first["contents"]["minPlayerUpdateDuration"], 100);
    let cmd = gama
        .wait_command(T, |c| c["type"] == "ask" && c["action"] == "send_init_data")
        .await
        .unwrap();
    assert_eq!(cmd["exp_id"], "0");
    assert_eq!(cmd["args"], r#"{"id":"Player_101"}"#);

    let _ = FakeGama::clone(&gama);
}
