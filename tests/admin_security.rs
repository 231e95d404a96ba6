//! Who may use the admin API and its live socket: token, Origin and Host rules, and the live
//! socket's coalesced pushes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

type Events =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn events(
    relay: &TestRelay,
    query: &str,
    origin: Option<&str>,
) -> Result<Events, tungstenite::Error> {
    let url = format!("ws://{}/api/events{query}", relay.handle().admin_addr());
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

fn status_of(e: tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

async fn next_state(ws: &mut Events) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(T, ws.next())
            .await
            .expect("a push in time")
            .expect("socket open")
            .unwrap();
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["type"], "state");
            return v["state"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_token_is_required_by_the_api_and_the_event_socket() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.admin.token = "t0k3n".into())
        .start()
        .await;
    let base = &relay.base;

    let r = relay
        .http
        .get(format!("{base}/api/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    let r = relay
        .http
        .get(format!("{base}/api/state"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = relay
        .http
        .get(format!("{base}/api/state"))
        .bearer_auth("t0k3n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = relay
        .http
        .post(format!("{base}/api/experiment/stop"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "actions too");

    // Health checks and the page itself need no token.
    assert_eq!(relay.get("/healthz").await.0, 200);
    let page = relay.http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );

    assert_eq!(status_of(events(&relay, "", None).await.unwrap_err()), 401);
    assert_eq!(
        status_of(events(&relay, "?token=nope", None).await.unwrap_err()),
        401
    );
    let mut ws = events(&relay, "?token=t0k3n", None).await.unwrap();
    let state = next_state(&mut ws).await;
    assert!(state["gama"]["address"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_facing_admin_port_gets_a_generated_token() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.admin.host = "0.0.0.0".into())
        .start()
        .await;
    let token = relay
        .handle()
        .admin_token()
        .expect("a token is generated")
        .to_string();
    assert_eq!(token.len(), 32);
    assert_eq!(relay.get("/api/state").await.0, 401);
    let r = relay
        .http
        .get(format!("{}/api/state", relay.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_and_foreign_host_names_are_refused() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.admin.allowed_origins = vec!["http://dashboard.lab:9000".into()];
        })
        .start()
        .await;
    let base = &relay.base;
    let own_origin = format!("http://{}", relay.handle().admin_addr());

    // A page from another site cannot drive the session (the request would be a "simple" POST
    // that browsers send without asking).
    let r = relay
        .http
        .post(format!("{base}/api/experiment/stop"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("evil.example"),
        "{body}"
    );
    // The page's own origin and configured ones may.
    for origin in [own_origin.as_str(), "http://dashboard.lab:9000"] {
        let r = relay
            .http
            .post(format!("{base}/api/models/rescan"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{origin}");
    }

    // The event socket checks Origin.
    assert_eq!(
        status_of(
            events(&relay, "", Some("http://evil.example"))
                .await
                .unwrap_err()
        ),
        403
    );
    let mut ws = events(&relay, "", Some(&own_origin)).await.unwrap();
    next_state(&mut ws).await;

    // Without a token the API only answers to loopback names: DNS rebinding gets nothing.
    let r = relay
        .http
        .get(format!("{base}/api/state"))
        .header("host", "evil.example:8000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_follow_changes_and_are_coalesced() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.admin.push_min_interval_ms = 200;
            c.admin.push_refresh_ms = 60_000;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let mut ws = events(&relay, "", None).await.unwrap();
    next_state(&mut ws).await;
    // A burst of twenty registrations.
    let started = Instant::now();
    let mut headsets = Vec::new();
    for i in 0..20 {
        headsets.push(relay.join(&format!("P{i}")).await);
    }
    let mut pushes = 0;
    loop {
        let state = next_state(&mut ws).await;
        pushes += 1;
        if state["counts"]["connected"] == 20 {
            break;
        }
    }
    let elapsed = started.elapsed();
    // At most one push per 200 ms, plus the one a change can trigger at once.
    let allowed = 2 + (elapsed.as_millis() / 200) as usize;
    assert!(pushes <= allowed, "{pushes} pushes in {elapsed:?}");
    // A change reaches the page within the interval.
    drop(headsets.pop());
    let t = Instant::now();
    loop {
        let state = next_state(&mut ws).await;
        if state["counts"]["connected"] == 19 {
            break;
        }
    }
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}
