//! The real PyPI `gama-client`, driven by `testkit/python/check_gama_client.py`: what makes a
//! gama-server credible (the fake, or the relay's endpoint for tools).
//!
//! The interpreter is `$GAMA_CLIENT_PYTHON`, else `<workspace>/target/test-deps/venv/bin/python`,
//! which `scripts/test.sh` creates from `testkit/python/requirements.txt`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, ensure};
use serde::Deserialize;

/// Bound on one run of the check script (it takes about a second).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

fn testkit_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python interpreter that has gama-client installed, or what is missing.
pub fn python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GAMA_CLIENT_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(format!("GAMA_CLIENT_PYTHON={} does not exist", p.display()))
        };
    }
    let venv = testkit_dir().join("../target/test-deps/venv/bin/python");
    if venv.exists() {
        Ok(venv)
    } else {
        Err(format!(
            "no Python with gama-client ({} is missing)",
            venv.display()
        ))
    }
}

/// The interpreter for test `test`, which fails when there is none (see [`crate::prereq`]).
pub fn python_for(test: &str) -> PathBuf {
    match python() {
        Ok(p) => p,
        Err(missing) => {
            crate::prereq::require(test, Some(missing));
            unreachable!("require fails the test")
        }
    }
}

/// One line of the script's report.
#[derive(Debug, Clone, Deserialize)]
pub struct Check {
    /// What was checked.
    pub check: String,
    /// Whether it held.
    pub ok: bool,
    /// The answer, or what was wrong with it.
    pub detail: String,
}

/// What the run checks besides every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unasked {
    /// Messages sent unasked are not looked at.
    #[default]
    Any,
    /// Every message sent unasked belongs to an experiment the client loaded (gama-headless).
    OwnExperimentsOnly,
}

/// How the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A plain WebSocket close.
    Close,
    /// gama-client's `exit` command, then the close.
    Exit,
}

/// Runs the check script with `python` against a gama-server on 127.0.0.1:`port`. `Ok` carries
/// every check when all passed; an error lists the failed ones with the script's whole output.
pub async fn run_check(python: &Path, port: u16, finish: Finish) -> anyhow::Result<Vec<Check>> {
    run_check_with(python, port, finish, Unasked::Any).await
}

/// [`run_check`], also checking what the server sent unasked.
pub async fn run_check_with(
    python: &Path,
    port: u16,
    finish: Finish,
    unasked: Unasked,
) -> anyhow::Result<Vec<Check>> {
    let script = testkit_dir().join("python/check_gama_client.py");
    let finish = match finish {
        Finish::Close => "close",
        Finish::Exit => "exit",
    };
    let child = tokio::process::Command::new(python)
        .arg(&script)
        .args(["--host", "127.0.0.1", "--timeout", "5", "--finish", finish])
        .args(["--port", &port.to_string()])
        .args(
            (unasked == Unasked::OwnExperimentsOnly)
                .then_some("--own-experiments-only")
                .iter(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .context("the gama-client check did not finish within 60 s")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = format!(
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let checks: Vec<Check> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
    ensure!(
        failed.is_empty() && output.status.success(),
        "gama-client checks failed ({}): {failed:#?}\n{report}",
        output.status
    );
    ensure!(!checks.is_empty(), "no check ran:\n{report}");
    Ok(checks)
}
