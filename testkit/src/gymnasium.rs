//! The real PyPI gama-gymnasium, driven by `testkit/python/check_gymnasium.py`: a training run's
//! whole conversation with a gama-server (the fake, directly, or through the relay's endpoint for
//! tools), reported so that two runs can be compared.
//!
//! The interpreter is the one [`crate::gama_client::python`] finds: the venv `scripts/test.sh`
//! builds from `testkit/python/requirements.txt` has both packages.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// Bound on one run of the script (a fast run takes well under a second).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);

/// What a run does.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// The model's path on GAMA's side: a file name starting with `gym` has a `GymAgent` in the
    /// fake.
    pub model: &'a str,
    /// The experiment.
    pub experiment: &'a str,
    /// The actions of each episode (an episode also ends when GAMA says so).
    pub actions: &'a [u8],
    /// Episodes (each starts with `env.reset(seed)`).
    pub episodes: u32,
}

impl Default for Run<'_> {
    fn default() -> Self {
        Run {
            model: "/models/gym_walk.gaml",
            experiment: "gym_xp",
            actions: &[1, 1, 0, 1, 1, 1],
            episodes: 2,
        }
    }
}

/// Runs `run` with `python` against a gama-server on 127.0.0.1:`port`. `Ok` carries the script's
/// report (see the script's doc); an error carries what went wrong and the script's output.
pub async fn run(python: &Path, port: u16, run: &Run<'_>) -> anyhow::Result<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_gymnasium.py");
    let actions: Vec<String> = run.actions.iter().map(u8::to_string).collect();
    let child = tokio::process::Command::new(python)
        .arg(&script)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--model", run.model, "--experiment", run.experiment])
        .args(["--actions", &actions.join(",")])
        .args(["--episodes", &run.episodes.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .context("the gama-gymnasium run did not finish within 90 s")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok());
    match report {
        Some(r) if output.status.success() && r.get("error").is_none() => Ok(r),
        Some(r) => bail!(
            "gama-gymnasium failed: {}\n{}\nstderr:\n{stderr}",
            r["error"],
            r["trace"].as_str().unwrap_or_default()
        ),
        None => bail!(
            "gama-gymnasium gave no report ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
            output.status
        ),
    }
}

/// What two runs must have in common: the spaces and every reset and step, without the times
/// and the experiment's id (GAMA numbers experiments as they come).
pub fn comparable(report: &Value) -> Value {
    let mut episodes = report["episodes"].clone();
    for episode in episodes.as_array_mut().into_iter().flatten() {
        for step in episode["steps"].as_array_mut().into_iter().flatten() {
            if let Some(step) = step.as_object_mut() {
                step.remove("seconds");
            }
        }
    }
    serde_json::json!({
        "observation_space": report["observation_space"],
        "action_space": report["action_space"],
        "episodes": episodes,
    })
}

/// The longest step of a run, in seconds.
pub fn longest_step(report: &Value) -> f64 {
    report["episodes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["steps"].as_array().into_iter().flatten())
        .filter_map(|s| s["seconds"].as_f64())
        .fold(0.0, f64::max)
}
