//! Tests that need a tool from outside Cargo (the gama-client and gama-gymnasium venv, Chromium and
//! playwright-core, the Noto fonts, Wine and the Windows build, Debian's ffmpeg and adb).
//!
//! Such a test is marked `#[ignore = "needs …"]`: a plain `cargo test` lists it as ignored and runs
//! everything else, so its summary never counts a test that did not run. `scripts/test.sh`
//! installs the tools and runs those tests too (`cargo test -- --include-ignored`); run that way, a
//! test whose tool is missing fails, saying what is missing and what installs it.

/// Fails the test `test` when a tool it needs is `missing`.
pub fn require(test: &str, missing: Option<String>) {
    if let Some(what) = missing {
        panic!("{test}: {what}; scripts/test.sh installs it and runs every test");
    }
}
