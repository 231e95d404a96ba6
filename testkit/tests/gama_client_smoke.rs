//! Credibility check of the fake gama-server: the REAL PyPI `gama-client` (driven by
//! `shared/tools/gama_client_smoke.py`) must pass every command against it, in both server modes
//! (`shared/gama-client.md` §6).
//!
//! The interpreter is `$GAMA_CLIENT_PYTHON`, else `<workspace>/target/test-deps/venv/bin/python`,
//! which `scripts/test.sh` creates:
//! `python3 -m venv target/test-deps/venv && target/test-deps/venv/bin/pip install -r ../shared/tools/requirements.txt`.

use std::time::Duration;

use relay_testkit::gama_client;
use relay_testkit::{FakeGama, FakeGamaOptions};

async fn run_smoke(gama: &FakeGama, extra_args: &[&str]) -> anyhow::Result<usize> {
    gama_client::run_smoke(gama.port(), extra_args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_gama_client_passes_against_desktop_mode() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let passed = run_smoke(&gama, &[]).await?;
    assert!(passed >= 16, "{passed} checks");
    assert_eq!(gama.commands_of_type("load").len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_gama_client_passes_against_headless_mode() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::headless()).await?;
    let passed = run_smoke(&gama, &[]).await?;
    assert!(passed >= 16, "{passed} checks");
    // gama-client used load's content (an id, not the experiment name) as exp_id.
    let play = gama.commands_of_type("play");
    assert_eq!(play.first().and_then(|c| c["exp_id"].as_str()), Some("1"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_gama_client_exit_closes_the_socket() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    run_smoke(&gama, &["--exit"]).await?;
    gama.wait_command(Duration::from_secs(5), |c| c["type"] == "exit")
        .await?;
    gama.wait_open_connections(0, Duration::from_secs(5))
        .await?;
    Ok(())
}
