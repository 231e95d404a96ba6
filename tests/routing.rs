//! GAMA's linker output reaching headsets: order, exact bytes, both content shapes, any state.

mod common;

use common::*;
use relay_testkit::{ContentShape, FakeGama, FakeGamaOptions};
use serde_json::Value;

/// A linker output as GAMA writes it: Java doubles with a fraction, keys in TC-Linker order.
const OUTPUT: &str = r#"{"contents":[{"id":["P1"],"contents":{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100.0}},{"id":["P1","P2"],"contents":{"enableMove":false}},{"id":["P2"],"contents":{"properties":[{"id":"block","tag":"selectable","hasPrefab":false,"height":100000,"is3D":true,"red":-1,"green":-1,"blue":-1,"alpha":0.0,"material":null,"constraints":null,"isInteractable":true,"isGrabable":false,"hasCollider":true,"toFollow":false}]}},{"id":["P1"],"contents":{"wallId":"w","offsetYGeom":[0],"height":4.0E5,"pointsGeom":[{"c":[1,2,3,4]}]}}],"type":"output"}"#;

const P1_FRAMES: [&str; 3] = [
    r#"{"contents":{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100},"type":"json_output"}"#,
    r#"{"contents":{"enableMove":false},"type":"json_output"}"#,
    r#"{"contents":{"wallId":"w","offsetYGeom":[0],"height":400000,"pointsGeom":[{"c":[1,2,3,4]}]},"type":"json_output"}"#,
];

const P2_FRAMES: [&str; 2] = [
    r#"{"contents":{"enableMove":false},"type":"json_output"}"#,
    r#"{"contents":{"properties":[{"id":"block","tag":"selectable","hasPrefab":false,"height":100000,"is3D":true,"red":-1,"green":-1,"blue":-1,"alpha":0,"material":null,"constraints":null,"isInteractable":true,"isGrabable":false,"hasCollider":true,"toFollow":false}]},"type":"json_output"}"#,
];

async fn check_exact_delivery(shape: ContentShape) {
    let gama = FakeGama::start(FakeGamaOptions {
        content_shape: shape,
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let p1 = relay.join("P1").await;
    let p2 = relay.join("P2").await;
    // No experiment at all: output addressed to connected players is relayed anyway (an experiment
    // started from GAMA's own window must reach the headsets too).
    gama.send_linker_output(OUTPUT);
    for want in P1_FRAMES {
        assert_eq!(p1.recv_json_output(T).await.unwrap().0, want);
    }
    for want in P2_FRAMES {
        assert_eq!(p2.recv_json_output(T).await.unwrap().0, want);
    }
    p1.expect_silence(std::time::Duration::from_millis(100))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_content_is_delivered_in_order_with_javascript_numbers() {
    check_exact_delivery(ContentShape::String).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_content_is_delivered_the_same_way() {
    check_exact_delivery(ContentShape::Object).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_player_s_share_of_gama_output_is_counted_apart_from_other_messages() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let p1 = relay.join("P1").await;
    let p2 = relay.join("P2").await;
    // Keep-alive and state traffic is not GAMA output.
    for id in ["P1", "P2"] {
        let traffic = relay.player_json(id).await.unwrap()["traffic"].clone();
        assert_eq!(traffic["outputs"], 0, "{traffic}");
        assert_eq!(traffic["last_output_ms_ago"], Value::Null, "{traffic}");
    }
    gama.send_linker_output(OUTPUT);
    for _ in P1_FRAMES {
        p1.recv_json_output(T).await.unwrap();
    }
    for _ in P2_FRAMES {
        p2.recv_json_output(T).await.unwrap();
    }
    let p1_traffic = relay.player_json("P1").await.unwrap()["traffic"].clone();
    assert_eq!(p1_traffic["outputs"], P1_FRAMES.len(), "{p1_traffic}");
    assert!(
        p1_traffic["last_output_ms_ago"].as_u64().unwrap() < 5_000,
        "{p1_traffic}"
    );
    let p2_traffic = relay.player_json("P2").await.unwrap()["traffic"].clone();
    assert_eq!(p2_traffic["outputs"], P2_FRAMES.len(), "{p2_traffic}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_for_unknown_players_and_non_linker_output_are_harmless() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let p1 = relay.join("P1").await;
    gama.send_console("create player: P1");
    gama.send_raw(r#"{"type":"SimulationOutput","content":"pong","exp_id":"0"}"#);
    gama.send_linker_output(
        r#"{"contents":[{"id":["ghost"],"contents":{"cycle":1}},{"id":["P1"],"contents":{"cycle":2}}],"type":"output"}"#,
    );
    assert_eq!(
        p1.recv_json_output(T).await.unwrap().0,
        r#"{"contents":{"cycle":2},"type":"json_output"}"#
    );
    assert_eq!(gama.accepted_connections(), 1, "the GAMA link survived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_linker_feeds_players_their_geometry_while_the_game_runs() {
    let gama = FakeGama::start(FakeGamaOptions {
        cycle_ms: 20,
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("Player_101").await;
    relay.launch().await;
    expect_in_game(&a, true).await;

    a.ask("send_init_data", &[("id", "Player_101")])
        .await
        .unwrap();
    // The linker's init sequence, each payload keeping its first key (Unity routes on it).
    for first_key in ["precision", "enableMove", "properties", "pointsLoc"] {
        let (raw, _) = a.recv_json_output(T).await.unwrap();
        let prefix = format!(r#"{{"contents":{{"{first_key}":"#);
        assert!(raw.starts_with(&prefix), "expected {prefix}…, got {raw}");
    }
    a.ask(
        "player_ready_to_receive_geometries",
        &[("id", "Player_101")],
    )
    .await
    .unwrap();
    let (status, body) = relay.post("/api/experiment/resume", None).await;
    assert_eq!(status, 200, "{body}");
    // World updates arrive every cycle, each a full non-init snapshot starting with pointsLoc.
    let mut worlds = 0;
    while worlds < 3 {
        let (raw, _) = a.recv_json_output(T).await.unwrap();
        if raw.starts_with(r#"{"contents":{"pointsLoc":"#) {
            assert!(raw.contains(r#""isInit":false"#), "{raw}");
            worlds += 1;
        }
    }
    // Positions flow back to GAMA with the experiment id added.
    a.ask(
        "move_player_external",
        &[
            ("id", "Player_101"),
            ("x", "251234"),
            ("y", "48810"),
            ("z", "17000"),
            ("angle", "-900000"),
        ],
    )
    .await
    .unwrap();
    gama.wait_for(T, "player position", |g| {
        g.player_position("Player_101") == Some((251234, 48810, 17000, -900000))
    })
    .await
    .unwrap();
}
