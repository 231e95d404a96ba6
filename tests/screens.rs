//! Headset screens through the project's stand-in ADB server and headsets: devices tracked live,
//! matched to players, streamed to each viewer at its own pace (3.x and 4.x framings), and every
//! failure of the mirroring (a headset that vanishes, a malformed stream, a stalled viewer, an ADB
//! server that hangs) kept away from the relaying.

mod common;
#[path = "screens/support.rs"]
mod support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use relay_testkit::FakeDevice;
use relay_testkit::adb::Garbage;
use relay_testkit::h264::Sample;
use serde_json::{Value, json};
use support::*;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headset_is_listed_streamed_and_gone_when_it_leaves() {
    let m = start(vec![FakeDevice::quest3("1WMHH000000001")], |_| {}).await;
    let s = wait_screens(&m.relay, "the headset listed", |s| {
        device(s, "1WMHH000000001").is_some()
    })
    .await;
    let d = device(&s, "1WMHH000000001").unwrap();
    assert_eq!(d["model"], "Quest_3");
    assert_eq!(d["state"], "device");
    assert_eq!(
        d["streaming"], false,
        "nothing streams before someone watches"
    );
    assert!(s["unavailable"].is_null(), "{s}");
    assert_eq!(m.adb.servers_started("1WMHH000000001"), 0);

    let mut viewer = Viewer::open(&m.relay, "1WMHH000000001").await;
    let meta = viewer.first_picture().await;
    let dummy = Sample::dummy();
    assert_eq!(meta["codec"], dummy.codec().unwrap());
    assert_eq!(meta["width"], dummy.width);
    assert_eq!(meta["height"], dummy.height);
    assert_eq!(meta["name"], "Quest 3");
    assert!(viewer.frames_during(Duration::from_secs(1)).await >= 5);
    let start = m
        .adb
        .last_start("1WMHH000000001")
        .expect("scrcpy's server started");
    assert_eq!(
        start.version, "3.3.4",
        "the server's first argument is its own version"
    );
    assert_eq!(start.option("video_codec"), Some("h264"));
    assert_eq!(start.option("max_size"), Some("1024"));
    assert_eq!(start.option("video_bit_rate"), Some("4000000"));
    assert_eq!(start.option("max_fps"), Some("30"));
    let s = screens(&m.relay).await;
    let d = device(&s, "1WMHH000000001").unwrap();
    assert_eq!(d["streaming"], true);
    assert_eq!(
        (d["width"].clone(), d["height"].clone()),
        (json!(dummy.width), json!(dummy.height))
    );

    // Unplugged mid-stream: the viewer is told, and the headset leaves the list.
    assert!(m.adb.remove_device("1WMHH000000001"));
    let ended = viewer.text_of("ended").await;
    assert_eq!(ended["code"], "left", "{ended}");
    wait_screens(&m.relay, "the headset gone", |s| {
        device(s, "1WMHH000000001").is_none()
    })
    .await;
    viewer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_scrcpy_framings_reach_the_page_the_version_read_from_the_server_file() {
    for version in ["3.3.4", "4.1"] {
        // mirror.scrcpy_version empty: the server file is asked its version (started with "0").
        let m = start(
            vec![FakeDevice::quest3("quest").with_scrcpy_version(version)],
            |c| c.mirror.scrcpy_version = String::new(),
        )
        .await;
        wait_screens(&m.relay, "the headset", |s| device(s, "quest").is_some()).await;
        let mut viewer = Viewer::open(&m.relay, "quest").await;
        let meta = viewer.first_picture().await;
        assert_eq!(meta["width"], Sample::dummy().width, "{version}");
        assert!(
            viewer.frames_during(Duration::from_millis(800)).await >= 4,
            "{version}"
        );
        assert_eq!(m.adb.last_start("quest").unwrap().version, version);
        // A second viewer after a restart of the capture gets a whole picture too.
        let mut second = Viewer::open(&m.relay, "quest").await;
        second.first_picture().await;
        second.close().await;
        viewer.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthorized_headset_is_listed_and_streams_once_allowed() {
    let m = start(
        vec![FakeDevice::quest3("1WMHH000000002").with_state("unauthorized")],
        |_| {},
    )
    .await;
    let s = wait_screens(&m.relay, "the headset listed", |s| {
        device(s, "1WMHH000000002").is_some()
    })
    .await;
    assert_eq!(
        device(&s, "1WMHH000000002").unwrap()["state"],
        "unauthorized"
    );
    let mut refused = Viewer::open(&m.relay, "1WMHH000000002").await;
    let ended = refused.text_of("ended").await;
    assert_eq!(ended["code"], "no_device", "{ended}");
    assert_eq!(m.adb.servers_started("1WMHH000000002"), 0);

    m.adb.set_state("1WMHH000000002", "device");
    wait_screens(&m.relay, "the headset allowed", |s| {
        device(s, "1WMHH000000002").is_some_and(|d| d["state"] == "device")
    })
    .await;
    let mut viewer = Viewer::open(&m.relay, "1WMHH000000002").await;
    viewer.first_picture().await;
    viewer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_viewer_gets_the_configuration_before_its_first_key_frame() {
    // Key frames every 3rd frame at 10 fps: a late viewer waits at most 0.3 s for one.
    let m = start(vec![FakeDevice::quest3("1WMHH000000003")], |_| {}).await;
    wait_screens(&m.relay, "the headset", |s| {
        device(s, "1WMHH000000003").is_some()
    })
    .await;
    let mut first = Viewer::open(&m.relay, "1WMHH000000003").await;
    first.first_picture().await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(170)).await;
        let mut late = Viewer::open(&m.relay, "1WMHH000000003").await;
        // first_picture fails on a delta frame or a key frame before the configuration.
        late.first_picture().await;
        late.close().await;
    }
    assert_eq!(
        m.adb.servers_started("1WMHH000000003"),
        1,
        "one stream for every viewer"
    );
    first.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_stops_when_nobody_watches() {
    let m = start(vec![FakeDevice::quest3("1WMHH000000004")], |c| {
        c.mirror.idle_stop_ms = 300
    })
    .await;
    wait_screens(&m.relay, "the headset", |s| {
        device(s, "1WMHH000000004").is_some()
    })
    .await;
    let mut viewer = Viewer::open(&m.relay, "1WMHH000000004").await;
    viewer.first_picture().await;
    assert_eq!(m.adb.servers_running("1WMHH000000004"), 1);
    viewer.close().await;
    m.adb
        .wait_until(Duration::from_secs(5), |adb| {
            adb.servers_running("1WMHH000000004") == 0
        })
        .await
        .expect("scrcpy's server stopped once nobody watched");
    wait_screens(&m.relay, "not streaming", |s| {
        device(s, "1WMHH000000004").is_some_and(|d| d["streaming"] == false)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_viewer_loses_frames_alone_and_resumes_at_a_key_frame() {
    let m = start(
        vec![FakeDevice::quest3("1WMHH000000005").with_picture(heavy_picture(48 * 1024))],
        |c| c.mirror.viewer_queue_bytes = 256 * 1024,
    )
    .await;
    wait_screens(&m.relay, "the headset", |s| {
        device(s, "1WMHH000000005").is_some()
    })
    .await;
    let mut stalled = Viewer::open_with(&m.relay, "1WMHH000000005", Some(4096)).await;
    stalled.first_picture().await;
    let mut reader = Viewer::open(&m.relay, "1WMHH000000005").await;
    reader.first_picture().await;
    // The stalled viewer reads nothing for 3 s (about 4 MB sent): the other one gets every frame.
    let frames = reader.frames_during(Duration::from_secs(3)).await;
    assert!(
        frames >= 75,
        "the reading viewer got {frames} frames in 3 s at 30 fps"
    );

    // Back: what it reads is decodable (after each gap, a configuration then a key frame), and it
    // did lose frames.
    let mut last_pts = None;
    let mut gaps = 0;
    let mut config_just_before = false;
    let frame_us = 1_000_000 / 30;
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        match stalled.next().await {
            Got::Packet { config: true, .. } => config_just_before = true,
            Got::Packet { key, pts, .. } => {
                if let Some(last) = last_pts
                    && pts > last + frame_us + frame_us / 2
                {
                    gaps += 1;
                    assert!(
                        key,
                        "after frames were dropped, the next frame is a key frame"
                    );
                    assert!(
                        config_just_before,
                        "and the configuration comes just before it"
                    );
                }
                config_just_before = false;
                last_pts = Some(pts);
            }
            Got::Text(v) => panic!("unexpected {v}"),
        }
    }
    assert!(
        gaps >= 1,
        "the stalled viewer lost frames (its queue is 256 KiB)"
    );
    assert_eq!(
        m.adb.servers_started("1WMHH000000005"),
        1,
        "the headset's stream never restarted"
    );
    stalled.close().await;
    reader.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanishing_headset_and_a_malformed_stream_leave_the_others_and_the_relay_unaffected() {
    let m = start(
        vec![
            FakeDevice::quest3("steady"),
            FakeDevice::quest3("vanishing"),
            FakeDevice::quest3("garbled"),
        ],
        |_| {},
    )
    .await;
    m.relay.launch().await;
    let h = m.relay.join("p1").await;
    wait_screens(&m.relay, "three headsets", |s| {
        s["devices"].as_array().is_some_and(|d| d.len() == 3)
    })
    .await;
    let mut steady = Viewer::open(&m.relay, "steady").await;
    let mut vanishing = Viewer::open(&m.relay, "vanishing").await;
    let mut garbled = Viewer::open(&m.relay, "garbled").await;
    steady.first_picture().await;
    vanishing.first_picture().await;
    garbled.first_picture().await;
    relaying_is_unaffected(&m, &h, "p1", 1).await;

    m.adb.remove_device("vanishing");
    assert_eq!(vanishing.text_of("ended").await["code"], "left");
    m.adb.malformed_with("garbled", Garbage::HugeSize);
    let ended = garbled.text_of("ended").await;
    assert_eq!(ended["code"], "failed", "{ended}");
    // The malformed stream is started again, and plays.
    garbled.first_picture().await;
    assert!(
        steady.frames_during(Duration::from_secs(1)).await >= 7,
        "the steady headset kept playing"
    );
    relaying_is_unaffected(&m, &h, "p1", 2).await;
    for v in [steady, vanishing, garbled] {
        v.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adb_server_that_hangs_leaves_the_relay_unaffected() {
    let m = start(vec![FakeDevice::quest3("1WMHH000000006")], |_| {}).await;
    m.relay.launch().await;
    let h = m.relay.join("p1").await;
    wait_screens(&m.relay, "the headset", |s| {
        device(s, "1WMHH000000006").is_some()
    })
    .await;
    m.adb.hang();
    // A viewer arrives while ADB answers nothing: it waits, told so; nothing else does.
    let mut viewer = Viewer::open(&m.relay, "1WMHH000000006").await;
    assert_eq!(viewer.text_of("waiting").await["code"], "starting");
    for round in 1..=3 {
        relaying_is_unaffected(&m, &h, "p1", round).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Each ADB step has its deadline: the attempt ends, and starts again once ADB answers.
    assert_eq!(viewer.text_of("ended").await["code"], "failed");
    m.adb.unhang();
    viewer.first_picture().await;
    relaying_is_unaffected(&m, &h, "p1", 4).await;
    viewer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headset_is_matched_to_the_player_connected_from_its_address() {
    let m = start(
        vec![
            // Plugged in by USB: its Wi-Fi address is asked of the headset.
            FakeDevice::quest3("1WMHH000000007").with_wlan_address(Ipv4Addr::LOCALHOST),
            // Over Wi-Fi: the serial says it.
            FakeDevice::quest3("192.0.2.7:5555"),
        ],
        |_| {},
    )
    .await;
    let _h = m.relay.join("alice").await;
    let s = wait_screens(&m.relay, "the USB headset matched", |s| {
        device(s, "1WMHH000000007").is_some_and(|d| d["player"] == "alice")
    })
    .await;
    assert_eq!(
        device(&s, "1WMHH000000007").unwrap()["address"],
        "127.0.0.1"
    );
    let other = device(&s, "192.0.2.7:5555").unwrap();
    assert_eq!(other["address"], "192.0.2.7");
    assert!(
        other["player"].is_null(),
        "no player connected from 192.0.2.7"
    );
    // The state document the page reads carries the same.
    let state = m.relay.state_json().await;
    assert!(
        state["screens"]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["player"] == "alice")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projector_s_headset_is_chosen_audited_and_checked() {
    let m = start(vec![FakeDevice::quest3("1WMHH000000008")], |_| {}).await;
    let (status, _) = m
        .relay
        .post("/api/screens/focus", Some(r#"{"serial":"1WMHH000000008"}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(screens(&m.relay).await["focus"], "1WMHH000000008");
    let (status, _) = m
        .relay
        .post("/api/screens/focus", Some(r#"{"serial":null}"#))
        .await;
    assert_eq!(status, 200);
    assert!(screens(&m.relay).await["focus"].is_null());
    let (status, body) = m
        .relay
        .post("/api/screens/focus", Some(r#"{"nope":1"#))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "bad_body");
    let audit = m.relay.get("/api/audit").await.1;
    let kinds: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "screen_focus")
        .collect();
    assert_eq!(kinds.len(), 2, "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_adb_or_scrcpy_the_page_says_what_to_install_and_the_relay_runs_as_before() {
    // No ADB server, no adb to start one.
    let gama = headless().await;
    let closed = free_port();
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.mirror.adb_server = format!("127.0.0.1:{closed}");
            c.mirror.adb_program = "/nonexistent/adb".into();
            c.mirror.step_timeout_ms = 500;
        })
        .start()
        .await;
    let s = wait_screens(&relay, "ADB unreachable", |s| !s["unavailable"].is_null()).await;
    assert_eq!(s["unavailable"]["code"], "adb_unreachable", "{s}");
    assert!(s["devices"].as_array().unwrap().is_empty());
    relay.launch().await;
    let h = relay.join("p1").await;
    expect_delivery(&gama, &h, "p1", "{\"round\":1}").await;
    let mut viewer = Viewer::open(&relay, "anything").await;
    assert_eq!(viewer.text_of("ended").await["code"], "no_device");
    relay.shutdown().await;

    // ADB, but no scrcpy.
    let m = start(vec![FakeDevice::quest3("1WMHH000000009")], |c| {
        c.mirror.scrcpy_server = "/nonexistent/scrcpy-server".into();
    })
    .await;
    let s = wait_screens(&m.relay, "scrcpy missing", |s| !s["unavailable"].is_null()).await;
    assert_eq!(s["unavailable"]["code"], "scrcpy_missing", "{s}");
    let mut viewer = Viewer::open(&m.relay, "1WMHH000000009").await;
    assert_eq!(viewer.text_of("ended").await["code"], "scrcpy_missing");
    m.relay.shutdown().await;

    // Turned off: the relay does not even ask the ADB server.
    let m = start(vec![FakeDevice::quest3("1WMHH000000010")], |c| {
        c.mirror.enabled = false
    })
    .await;
    let s = screens(&m.relay).await;
    assert_eq!(s["unavailable"]["code"], "mirror_off");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(m.adb.requests().is_empty(), "{:?}", m.adb.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_needs_the_token_like_the_rest_of_the_page() {
    let m = start(vec![FakeDevice::quest3("1WMHH000000011")], |c| {
        c.admin.token = "t0k3n".into()
    })
    .await;
    let addr = m.relay.handle().admin_addr();
    let refused =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/screens/1WMHH000000011/stream"))
            .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/api/screens/1WMHH000000011/stream?token=t0k3n"
    ))
    .await
    .unwrap();
    let first = tokio::time::timeout(T, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first, Message::Text(_)), "{first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quest_shows_one_eye_and_a_turned_display_is_started_again_turned() {
    let m = start(
        vec![
            FakeDevice::quest3("usual"),
            FakeDevice::quest3("turned").with_display_turned(),
            {
                let mut other = FakeDevice::quest3("other");
                other.model = "Pico_4".into();
                other
            },
        ],
        |_| {},
    )
    .await;
    wait_screens(&m.relay, "three headsets", |s| {
        s["devices"].as_array().is_some_and(|d| d.len() == 3)
    })
    .await;
    // A Quest 3: one eye, straightened (mirror.models.Quest_3), as the webplatform showed it.
    let mut usual = Viewer::open(&m.relay, "usual").await;
    usual.first_picture().await;
    let start = m.adb.last_start("usual").unwrap();
    assert_eq!(start.option("crop"), Some("1482:1570:300:250"));
    assert_eq!(start.option("angle"), Some("23"));
    assert_eq!(m.adb.servers_started("usual"), 1);
    // One that reports its display turned comes out taller than wide: started again, turned.
    let mut turned = Viewer::open(&m.relay, "turned").await;
    turned.first_picture().await;
    assert_eq!(m.adb.servers_started("turned"), 2);
    let start = m.adb.last_start("turned").unwrap();
    assert_eq!(start.option("crop"), Some("1570:1482:300:250"));
    // Another model is shown whole.
    let mut other = Viewer::open(&m.relay, "other").await;
    other.first_picture().await;
    let start = m.adb.last_start("other").unwrap();
    assert_eq!((start.option("crop"), start.option("angle")), (None, None));
    for v in [usual, turned, other] {
        v.close().await;
    }
    // The turn is remembered: watching it again starts it turned at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = Viewer::open(&m.relay, "turned").await;
    again.first_picture().await;
    assert_eq!(
        m.adb.last_start("turned").unwrap().option("crop"),
        Some("1570:1482:300:250")
    );
    again.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headsets_on_wifi_are_connected_from_the_setting_and_from_the_players_addresses() {
    // Wireless ADB on (`adb tcpip 5555`), not yet connected: the relay asks the ADB server. (Made
    // reachable before the relay starts: its first round of connections is at once, and an
    // address that did not answer is asked again only 30 s later.)
    let reachable = vec![
        FakeDevice::quest3("192.0.2.40:5555"),
        FakeDevice::quest3("127.0.0.1:5555"),
    ];
    let m = start_with_reachable(Vec::new(), reachable, |c| {
        c.mirror.headsets = vec!["\"192.0.2.40\"".into()]
    })
    .await;
    wait_screens(&m.relay, "the listed headset connected", |s| {
        device(s, "192.0.2.40:5555").is_some()
    })
    .await;
    assert!(device(&screens(&m.relay).await, "127.0.0.1:5555").is_none());
    // A headset joins the session from 127.0.0.1: its address is tried too, and matched.
    let _h = m.relay.join("bob").await;
    let s = wait_screens(&m.relay, "the player's headset connected", |s| {
        device(s, "127.0.0.1:5555").is_some_and(|d| d["player"] == "bob")
    })
    .await;
    assert_eq!(device(&s, "127.0.0.1:5555").unwrap()["state"], "device");
    // Each address is asked once while known.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let connects = m
        .adb
        .requests()
        .iter()
        .filter(|r| r.starts_with("host:connect:"))
        .count();
    assert_eq!(connects, 2, "{:?}", m.adb.requests());
    m.relay.shutdown().await;

    // connect_players off: only the listed headsets are asked for.
    let m = start(Vec::new(), |c| c.mirror.connect_players = false).await;
    m.adb.add_reachable(FakeDevice::quest3("127.0.0.1:5555"));
    let _h = m.relay.join("bob").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        !m.adb
            .requests()
            .iter()
            .any(|r| r.starts_with("host:connect:")),
        "{:?}",
        m.adb.requests()
    );
}
