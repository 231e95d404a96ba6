//! Credibility of the fake gama-server: the REAL PyPI `gama-client` (driven by
//! `testkit/python/check_gama_client.py`) gets a correlated, exactly echoed answer to every command
//! it can send, in both server modes.

use std::time::Duration;

use relay_testkit::gama_client::{self, Finish, Unasked};
use relay_testkit::{FakeGama, FakeGamaOptions};

/// Every check the script makes, by name.
const CHECKS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn real_gama_client_passes_against_desktop_mode() -> anyhow::Result<()> {
    let python = gama_client::python_for("real_gama_client_passes_against_desktop_mode");
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let checks = gama_client::run_check(&python, gama.port(), Finish::Close).await?;
    assert_eq!(checks.len(), CHECKS, "{checks:#?}");
    assert_eq!(gama.commands_of_type("load").len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn real_gama_client_passes_against_headless_mode() -> anyhow::Result<()> {
    let python = gama_client::python_for("real_gama_client_passes_against_headless_mode");
    let gama = FakeGama::start(FakeGamaOptions::headless()).await?;
    let checks = gama_client::run_check_with(
        &python,
        gama.port(),
        Finish::Close,
        Unasked::OwnExperimentsOnly,
    )
    .await?;
    assert_eq!(checks.len(), CHECKS + 1, "{checks:#?}");
    // gama-client used load's content (an id, not the experiment name) as exp_id.
    let play = gama.commands_of_type("play");
    assert_eq!(play.first().and_then(|c| c["exp_id"].as_str()), Some("1"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn real_gama_client_exit_closes_the_socket() -> anyhow::Result<()> {
    let python = gama_client::python_for("real_gama_client_exit_closes_the_socket");
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    gama_client::run_check(&python, gama.port(), Finish::Exit).await?;
    gama.wait_command(Duration::from_secs(5), |c| c["type"] == "exit")
        .await?;
    gama.wait_open_connections(0, Duration::from_secs(5))
        .await?;
    Ok(())
}
