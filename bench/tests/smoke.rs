//! Smoke test of the benchmark tool: a tiny classroom (3 headsets, 1 s) run end to end, without a
//! relay and through the debug build of gama-vr-relay, must account for every message both ways
//! and report the relay's resources. Not a performance test: it checks that the tool works.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn bench(extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_relay-bench"))
        .args(["--scenario", "classroom", "--headsets", "3"])
        .args([
            "--duration",
            "1",
            "--warmup",
            "0.3",
            "--drain",
            "2",
            "--json",
        ])
        .args(extra)
        .output()
        .expect("relay-bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "relay-bench failed:\n{stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("relay-bench printed no JSON document ({e}):\n{stderr}"))
}

/// Checks the one run of `doc` delivered every message of both flows.
fn assert_complete(doc: &Value, mode: &str) {
    let runs = doc["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{doc:#}");
    let run = &runs[0];
    assert_eq!(run["mode"], mode);
    assert_eq!(run["headsets"], 3);
    let phase = &run["phases"][0];
    for flow in ["output", "asks"] {
        let f = &phase[flow];
        // 3 headsets × 30 Hz (output) or 50 Hz (asks) × 1 s.
        let expected = if flow == "output" { 90 } else { 150 };
        assert_eq!(f["expected"], expected, "{flow}: {f:#}");
        assert_eq!(f["lost"], 0, "{flow}: {f:#}");
        // A relay may skip a world update for a newer one when a headset is behind (a loaded
        // machine); the tool accounts for it. A smoke test checks the accounting, not the speed.
        let superseded = f["superseded"].as_u64().unwrap();
        assert_eq!(
            f["received"].as_u64().unwrap() + superseded,
            expected,
            "{flow}: {f:#}"
        );
        if flow == "asks" {
            assert_eq!(superseded, 0, "asks are never superseded: {f:#}");
        }
        assert!(f["p50_ms"].as_f64().unwrap() > 0.0, "{flow}: {f:#}");
        assert!(f["max_ms"].as_f64().unwrap() >= f["p99_ms"].as_f64().unwrap());
    }
    assert_eq!(phase["output"]["bytes_intact"], true);
    assert_eq!(phase["disconnects"], 0);
}

#[test]
fn direct_baseline_delivers_everything() {
    let doc = bench(&["--direct"]);
    assert_complete(&doc, "direct");
    assert!(doc["runs"][0]["relay"].is_null());
    assert!(doc["targets"].as_array().unwrap().is_empty());
}

/// `target/debug/gama-vr-relay`, next to this test's own folder (`target/debug/deps`).
fn debug_relay() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    profile_dir.join(format!("gama-vr-relay{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn through_the_relay_everything_arrives_and_resources_are_reported() {
    let relay = debug_relay();
    assert!(
        relay.is_file(),
        "{} is missing: build the relay first (`cargo build -p gama-vr-relay`; \
         `cargo test --workspace` builds it)",
        relay.display()
    );
    let logs = std::env::temp_dir().join(format!("relay-bench-smoke-{}", std::process::id()));
    let doc = bench(&[
        "--no-direct",
        "--relay-bin",
        relay.to_str().expect("UTF-8 path"),
        "--log-dir",
        logs.to_str().expect("UTF-8 path"),
    ]);
    assert_complete(&doc, "relay");
    let stats = &doc["runs"][0]["relay"];
    assert!(stats["idle_rss_mb"].as_f64().unwrap() > 0.0, "{stats:#}");
    assert!(stats["peak_rss_mb"].as_f64().unwrap() > 0.0, "{stats:#}");
    assert!(doc["runs"][0]["phases"][0]["relay_cpu_s"].is_number());
    let _ = std::fs::remove_dir_all(&logs);
}
