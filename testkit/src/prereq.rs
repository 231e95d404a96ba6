//! Tests that need a tool from outside Cargo (the gama-client venv, Chromium and playwright-core).
//!
//! `scripts/test.sh` installs them and sets `GAMA_VR_RELAY_TEST_TOOLS=required`: there a missing
//! tool fails the test. Under a plain `cargo test` a test whose tool is missing is skipped with one
//! line saying what is missing and what to run, so a fresh clone never fails for lack of a venv.

use std::io::Write;

/// The variable `scripts/test.sh` sets so that no test is ever skipped in CI.
pub const REQUIRE_VAR: &str = "GAMA_VR_RELAY_TEST_TOOLS";

/// Whether missing tools fail the tests instead of skipping them.
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "required")
}

/// `true` when nothing is missing. Otherwise, under `scripts/test.sh` a panic naming what is
/// missing; under a plain `cargo test` one line on stderr and `false`: the test returns early.
pub fn ready(test: &str, missing: Option<String>) -> bool {
    let Some(what) = missing else {
        return true;
    };
    if required() {
        panic!("{test}: {what}");
    }
    // Straight to stderr, past the test harness's capture, so the skip is seen; in one write so
    // that it is not interleaved with the harness's own lines.
    let line = format!("skipped {test}: {what}; scripts/test.sh installs it and runs every test\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}
