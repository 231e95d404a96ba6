//! `/metrics`, `/healthz` and `/readyz` reflect a session driven by the fake GAMA and headsets.

mod common;

use common::*;
use relay_testkit::{FakeGama, Headset};

/// The value of one sample line of the Prometheus text format.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn scrape(relay: &TestRelay) -> String {
    let r = relay
        .http
        .get(format!("{}/metrics", relay.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_session() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .players("0", "1")
        .config(|c| {
            c.session.auto_launch = false;
            // Metrics stay readable without the admin token, like /healthz.
            c.admin.token = "secret".into();
        })
        .start()
        .await;
    relay.wait_gama().await;
    before_any_headset_the_link_to_gama_is_counted(&relay).await;
    let a = relay.join("A").await;
    let b = relay.join("B").await;
    a_session_with_a_refused_command_and_an_output_for_nobody(&relay, &gama, &a, &b).await;
    the_metrics_count_players_messages_commands_and_errors(&relay).await;
    health_and_readiness_need_no_token_and_follow_gama(&relay, &gama).await;
}

/// Before any headset: connected to GAMA once, no experiment.
async fn before_any_headset_the_link_to_gama_is_counted(relay: &TestRelay) {
    let before = scrape(relay).await;
    assert_eq!(
        sample(&before, r#"gama_vr_relay_gama_link{state="connected"}"#),
        1.0
    );
    assert_eq!(sample(&before, "gama_vr_relay_gama_connections_total"), 1.0);
    assert_eq!(
        sample(&before, r#"gama_vr_relay_gama_experiment{state="NONE"}"#),
        1.0
    );
}

/// Launched with the token: A plays (the model allows one player), B waits. A loads; B's
/// expression is refused by GAMA; GAMA sends an output for a player nobody is.
async fn a_session_with_a_refused_command_and_an_output_for_nobody(
    relay: &TestRelay,
    gama: &FakeGama,
    a: &Headset,
    b: &Headset,
) {
    let launch = relay
        .http
        .post(format!("{}/api/experiment/launch", relay.base))
        .bearer_auth("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(launch.status().as_u16(), 200);
    expect_in_game(a, true).await;
    relay.wait("B waiting", |s| s.counts.waiting == 1).await;
    a.ask("send_init_data", &[("id", "A")]).await.unwrap();
    for _ in 0..4 {
        a.recv_json_output(T).await.unwrap();
    }
    // An ask while B is not in the game still reaches GAMA; a command with GAMA refusing it counts
    // as an error.
    gama.fail_expressions_containing("boom", "> Error: boom");
    b.expression("do boom;").await.unwrap();
    b.recv_type("error", T).await.unwrap();
    gama.send_linker_output(&linker_output(&["Nobody"], "{}"));
    // GAMA's frames are handled in order: once A has this one, the one for Nobody was counted.
    gama.send_linker_output(&linker_output(&["A"], r#"{"sync":1}"#));
    while !a.recv_json_output(T).await.unwrap().0.contains("sync") {}
}

/// The metrics count the players by state, the messages both ways, GAMA's commands and the one it
/// refused, and the output for nobody.
async fn the_metrics_count_players_messages_commands_and_errors(relay: &TestRelay) {
    let text = scrape(relay).await;
    assert_eq!(
        sample(&text, r#"gama_vr_relay_players{state="connected"}"#),
        2.0
    );
    assert_eq!(
        sample(&text, r#"gama_vr_relay_players{state="in_game"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"gama_vr_relay_players{state="waiting"}"#),
        1.0
    );
    assert_eq!(sample(&text, "gama_vr_relay_headset_connections"), 2.0);
    assert_eq!(
        sample(&text, r#"gama_vr_relay_gama_experiment{state="PAUSED"}"#),
        1.0
    );
    assert!(sample(&text, "gama_vr_relay_headset_messages_received_total") >= 4.0);
    assert!(sample(&text, "gama_vr_relay_headset_messages_sent_total") >= 6.0);
    assert!(sample(&text, "gama_vr_relay_headset_sent_bytes_total") > 100.0);
    assert!(sample(&text, "gama_vr_relay_gama_messages_sent_total") >= 4.0);
    assert!(sample(&text, "gama_vr_relay_gama_messages_received_total") >= 4.0);
    assert_eq!(
        sample(
            &text,
            r#"gama_vr_relay_gama_command_seconds_count{command="load"}"#
        ),
        1.0
    );
    assert!(
        sample(
            &text,
            r#"gama_vr_relay_gama_command_seconds_count{command="ask"}"#
        ) >= 1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"gama_vr_relay_gama_command_errors_total{command="expression",kind="UnableToExecuteRequest"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "gama_vr_relay_outputs_for_absent_players_total"),
        1.0
    );
}

/// Health and readiness need no token either; readiness tells whether GAMA is reachable, and so
/// does the metrics' link once GAMA is gone.
async fn health_and_readiness_need_no_token_and_follow_gama(relay: &TestRelay, gama: &FakeGama) {
    assert_eq!(relay.get("/healthz").await.0, 200);
    let (status, ready) = relay.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["gama"]["reachable"], true);
    gama.kill().await;
    relay
        .wait("GAMA gone", |s| {
            s.gama.connection != gama_vr_relay::LinkState::Connected
        })
        .await;
    let (status, ready) = relay.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["gama"]["reachable"], false);
    assert!(ready["gama"]["reason"].is_string(), "{ready}");
    let text = scrape(relay).await;
    assert_eq!(
        sample(&text, r#"gama_vr_relay_gama_link{state="connected"}"#),
        0.0
    );
}

/// The admin page's world view has its own queue: following a player while GAMA sends to it is
/// not headset traffic, and a view that falls behind is not a slow headset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_world_view_is_not_counted_as_headset_traffic() {
    use futures_util::StreamExt;
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    relay.launch().await;
    let url = format!("ws://{}/api/world?player=A", relay.handle().admin_addr());
    let (mut view, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let before = scrape(&relay).await;
    // GAMA's output for A reaches the view (A has no headset). The second payload arrives once
    // the view's writer has accounted for the first.
    for payload in [r#"{"precision":10000}"#, r#"{"properties":[]}"#] {
        gama.send_linker_output(&linker_output(&["A"], payload));
        let key = &payload[2..8];
        loop {
            let msg = tokio::time::timeout(T, view.next())
                .await
                .expect("the view gets A's payload")
                .unwrap()
                .unwrap();
            if msg.to_text().unwrap().contains(key) {
                break;
            }
        }
    }
    let after = scrape(&relay).await;
    for name in [
        "gama_vr_relay_headset_messages_sent_total",
        "gama_vr_relay_headset_sent_bytes_total",
        "gama_vr_relay_headset_messages_received_total",
        "gama_vr_relay_headset_connections",
        "gama_vr_relay_slow_headsets_disconnected_total",
    ] {
        assert_eq!(sample(&after, name), sample(&before, name), "{name}");
    }
    assert_eq!(
        sample(&after, "gama_vr_relay_headset_messages_sent_total"),
        0.0
    );
}
