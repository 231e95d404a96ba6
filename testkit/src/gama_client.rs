//! The real PyPI `gama-client`, driven by `shared/tools/gama_client_smoke.py`: what makes a
//! gama-server credible (`shared/gama-client.md` §6).
//!
//! The interpreter is `$GAMA_CLIENT_PYTHON`, else `<workspace>/target/test-deps/venv/bin/python`,
//! which `scripts/test.sh` creates:
//! `python3 -m venv target/test-deps/venv && target/test-deps/venv/bin/pip install -r ../shared/tools/requirements.txt`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};

/// Bound on one run of the smoke script (it takes about a second).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The Python interpreter that has gama-client installed.
pub fn python() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("GAMA_CLIENT_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        ensure!(
            p.exists(),
            "GAMA_CLIENT_PYTHON={} does not exist; unset it or run scripts/test.sh",
            p.display()
        );
        return Ok(p);
    }
    let venv = workspace_root().join("target/test-deps/venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    bail!(
        "no Python with gama-client: {} is missing and GAMA_CLIENT_PYTHON is not set. \
         Run scripts/test.sh (it creates the venv: python3 -m venv target/test-deps/venv && \
         target/test-deps/venv/bin/pip install -r ../shared/tools/requirements.txt)",
        venv.display()
    )
}

/// The project's shared folder (protocol notes, the gama-client smoke script): `../shared` next to
/// the checkout, or wherever `GAMA_VR_RELAY_SHARED` says.
fn shared_dir() -> PathBuf {
    match std::env::var_os("GAMA_VR_RELAY_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("../shared"),
    }
}

/// Runs the smoke script against a gama-server (the fake, or the relay's endpoint for tools) on
/// 127.0.0.1:`port` and checks its verdict. Returns the number of passed checks.
pub async fn run_smoke(port: u16, extra_args: &[&str]) -> anyhow::Result<usize> {
    let python = python()?;
    let script = shared_dir().join("tools/gama_client_smoke.py");
    ensure!(
        script.exists(),
        "smoke script missing: {} (the project's shared folder sits next to the checkout, \
         or GAMA_VR_RELAY_SHARED names it)",
        script.display()
    );
    let port = port.to_string();
    let child = tokio::process::Command::new(&python)
        .arg(&script)
        .args(["--host", "127.0.0.1", "--port", &port, "--timeout", "5"])
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .context("the smoke script did not finish within 60 s")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    ensure!(
        output.status.success(),
        "smoke script failed ({}):\n{report}",
        output.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    let passed = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse::<usize>().ok())
        .with_context(|| format!("unexpected last line {last:?}:\n{report}"))?;
    ensure!(passed > 0, "no check ran:\n{report}");
    Ok(passed)
}
