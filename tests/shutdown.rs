//! Graceful shutdown of the real binary: headsets get a close frame with a reason, GAMA is told
//! nothing it does not need, and the process exits promptly.

mod common;

use std::time::{Duration, Instant};

use common::*;
use relay_testkit::Headset;

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_headsets_with_a_reason_and_exits_within_two_seconds() {
    let gama = desktop().await;
    let headset_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let gama_port = gama.port().to_string();
    let mut child = start_binary(
        dir.path(),
        headset_port,
        &["--gama-host", "127.0.0.1", "--gama-port", &gama_port],
        "GAMA server probed",
    )
    .await;

    let addr = format!("127.0.0.1:{headset_port}").parse().unwrap();
    let mut headsets = Vec::new();
    for id in ["A", "B", "C"] {
        let h = Headset::connect(addr).await.unwrap();
        h.register(id).await.unwrap();
        h.recv_type("json_state", T).await.unwrap();
        headsets.push(h);
    }
    let commands_before = gama.commands().len();

    let started = Instant::now();
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    for h in &headsets {
        let close = h.wait_closed(T).await.unwrap();
        assert_eq!(close, Some((1001, "relay shutting down".to_string())));
    }
    let status = tokio::time::timeout(Duration::from_secs(3), child.wait())
        .await
        .expect("the relay exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "exited after {:?}",
        started.elapsed()
    );
    // Shutting the relay down is not a reason to stop the experiment or remove players.
    assert_eq!(
        gama.commands().len(),
        commands_before,
        "{:?}",
        gama.commands()
    );
}

/// Every connection's tasks belong to the server: the admin page's event and world sockets and a
/// tool's connection are counted while open, and shutdown waits for them (each gets its close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_task_belongs_to_the_server() {
    use futures_util::StreamExt;
    let gama = desktop().await;
    let mut relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let idle = relay.handle().tasks();
    let admin = relay.handle().admin_addr();
    let tool = relay.handle().passthrough_addr().unwrap();
    let mut sockets = Vec::new();
    for url in [
        format!("ws://{admin}/api/events"),
        format!("ws://{admin}/api/world?player=A"),
        format!("ws://{tool}/"),
    ] {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        // Each says something first (a state push, positions, ConnectionSuccessful).
        tokio::time::timeout(T, ws.next())
            .await
            .unwrap_or_else(|_| panic!("{url} said nothing"))
            .unwrap()
            .unwrap();
        sockets.push(ws);
    }
    let open = relay.handle().tasks();
    assert!(
        open >= idle + 4,
        "{idle} tasks idle, {open} with an event socket, a world view and a tool (its reader and writer)"
    );
    let handle = relay.handle.take().unwrap();
    assert!(
        handle.shutdown(Duration::from_secs(3)).await,
        "every task ended"
    );
    for mut ws in sockets {
        // Nothing of the server is left to keep the socket open.
        loop {
            match tokio::time::timeout(T, ws.next()).await.expect("closed") {
                None | Some(Err(_)) => break,
                Some(Ok(m)) if m.is_close() => break,
                Some(Ok(_)) => {}
            }
        }
    }
}
