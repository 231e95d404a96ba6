//! The admin page in headless Chromium, for the browser tests (`tests/admin_page*.rs`): the
//! system's Chromium driven through playwright-core by `admin_driver.mjs` (JSON lines over
//! stdin/stdout).
//!
//! Needs `tests/browser/node_modules` (`npm ci` there; `scripts/test.sh` does it) and Chromium at
//! `/usr/bin/chromium` (Debian package `chromium`). The browser tests are `#[ignore]`d, so a plain
//! `cargo test` lists them as ignored; `scripts/test.sh` runs them, and without these pieces they
//! fail saying what is missing ([`require_browser`]).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "admin_driver.mjs";

pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Fails the browser test `test` when something it needs is missing (such tests are
/// `#[ignore]`d: `scripts/test.sh` runs them, with everything installed).
pub fn require_browser(test: &str) {
    let module = browser_dir().join("node_modules/playwright-core/package.json");
    let missing = if !Path::new(CHROMIUM).is_file() {
        Some(format!(
            "Chromium is not at {CHROMIUM} (Debian package `chromium`)"
        ))
    } else if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        Some("Node.js (`node`) is not installed".to_string())
    } else if !module.is_file() {
        Some("playwright-core is not installed in tests/browser/node_modules".to_string())
    } else {
        None
    };
    relay_testkit::prereq::require(test, missing)
}

/// The page in headless Chromium, through the Node driver.
pub struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    _scratch: tempfile::TempDir,
}

impl Browser {
    /// The browser in English (`en-US`), whatever the machine's language: the tests that read the
    /// page's words read them in English.
    pub async fn start() -> Browser {
        Browser::start_in("en-US").await
    }

    /// The browser with `locale` (a BCP 47 tag such as `th-TH`) as its language, as a browser
    /// set up in that language gives it to pages (navigator.languages, Accept-Language).
    pub async fn start_in(locale: &str) -> Browser {
        // Chromium's profile and every temporary file of the driver go in a folder removed even
        // when the test fails and the driver is killed.
        let scratch = tempfile::tempdir().unwrap();
        let profile = scratch.path().join("profile");
        std::fs::create_dir(&profile).unwrap();
        let mut child = Command::new("node")
            .arg(DRIVER)
            .current_dir(browser_dir())
            .env("ADMIN_PAGE_PROFILE_DIR", &profile)
            .env("ADMIN_PAGE_LOCALE", locale)
            .env("TMPDIR", scratch.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `node` for the browser test ({e}): install Node.js 20 or later, then run scripts/test.sh")
            });
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut browser = Browser {
            child,
            stdin,
            lines,
            _scratch: scratch,
        };
        let ready = browser.read(Duration::from_secs(30)).await;
        assert_eq!(
            ready["ok"], true,
            "the browser driver did not start: {ready}"
        );
        browser
    }

    pub async fn read(&mut self, timeout: Duration) -> Value {
        match tokio::time::timeout(timeout, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("browser driver wrote {line:?}, not JSON: {e}")),
            Ok(Ok(None)) => panic!("the browser driver exited (its errors are above)"),
            Ok(Err(e)) => panic!("reading the browser driver: {e}"),
            Err(_) => panic!("the browser driver did not answer within {timeout:?}"),
        }
    }

    /// Sends a command and returns the reply, whatever it says.
    pub async fn try_call(&mut self, cmd: Value) -> Value {
        let mut line = cmd.to_string();
        line.push('\n');
        let stdin = self.stdin.as_mut().expect("driver running");
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
        let budget = cmd["timeout_ms"].as_u64().unwrap_or(5000) + 15_000;
        self.read(Duration::from_millis(budget)).await
    }

    /// Sends a command; a failure fails the test, with a screenshot of the page at that moment.
    pub async fn call(&mut self, cmd: Value) -> Value {
        let reply = self.try_call(cmd.clone()).await;
        if reply["ok"] != true {
            let shot = target_dir().join("admin-page-failure.png");
            let _ = self
                .try_call(json!({"cmd": "screenshot", "path": shot}))
                .await;
            let errors = self.try_call(json!({"cmd": "errors"})).await;
            panic!(
                "browser: {cmd} failed: {}\n(the page at that moment: {}; its errors: {errors})",
                reply["error"].as_str().unwrap_or(&reply.to_string()),
                shot.display()
            );
        }
        reply
    }

    pub async fn open(&mut self, url: &str) {
        self.call(json!({"cmd": "open", "url": url})).await;
    }

    pub async fn wait(&mut self, selector: &str) {
        self.call(json!({"cmd": "wait", "selector": selector, "timeout_ms": 5000}))
            .await;
    }

    pub async fn wait_gone(&mut self, selector: &str) {
        self.call(
            json!({"cmd": "wait", "selector": selector, "state": "detached", "timeout_ms": 5000}),
        )
        .await;
    }

    pub async fn wait_hidden(&mut self, selector: &str) {
        self.call(
            json!({"cmd": "wait", "selector": selector, "state": "hidden", "timeout_ms": 5000}),
        )
        .await;
    }

    pub async fn wait_text(&mut self, selector: &str, text: &str) {
        self.call(
            json!({"cmd": "wait_text", "selector": selector, "text": text, "timeout_ms": 5000}),
        )
        .await;
    }

    pub async fn click(&mut self, selector: &str) {
        self.call(json!({"cmd": "click", "selector": selector, "timeout_ms": 5000}))
            .await;
    }

    pub async fn fill(&mut self, selector: &str, value: &str) {
        self.call(json!({"cmd": "fill", "selector": selector, "value": value}))
            .await;
    }

    pub async fn count(&mut self, selector: &str) -> u64 {
        self.call(json!({"cmd": "count", "selector": selector}))
            .await["count"]
            .as_u64()
            .unwrap()
    }

    pub async fn eval(&mut self, expr: &str) -> Value {
        self.call(json!({"cmd": "eval", "expr": expr})).await["value"].take()
    }

    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let path = target_dir().join(name);
        self.call(json!({"cmd": "screenshot", "path": path, "full_page": true}))
            .await;
        path
    }

    /// A screenshot of one element of the page.
    pub async fn screenshot_of(&mut self, selector: &str, name: &str) -> PathBuf {
        let path = target_dir().join(name);
        self.call(json!({"cmd": "screenshot", "path": path, "selector": selector}))
            .await;
        path
    }

    /// Waits until the JS expression `expr` is truthy in the page; returns its value.
    pub async fn wait_fn(&mut self, expr: &str, timeout_ms: u64) -> Value {
        self.call(json!({"cmd": "wait_fn", "expr": expr, "timeout_ms": timeout_ms}))
            .await["value"]
            .take()
    }

    /// Puts the keyboard focus on the first element matching `selector` (and checks it is there).
    pub async fn focus(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(&format!("document.querySelector({sel}).focus()"))
            .await;
        self.wait_fn(
            &format!("document.activeElement === document.querySelector({sel})"),
            5000,
        )
        .await;
    }

    /// Closes the open player detail with Escape and waits until the focus is back on `id`'s tile
    /// (the dialog's close event, a task after it hides, moves it there).
    pub async fn close_detail_back_to(&mut self, id: &str) {
        self.press("Escape").await;
        self.wait_hidden("#player-detail").await;
        let id = serde_json::to_string(id).unwrap();
        self.wait_fn(
            &format!("document.activeElement.closest('[data-player]')?.dataset.player === {id}"),
            5000,
        )
        .await;
    }

    /// How many pixels the page is wider than the window (0: no sideways scrolling).
    pub async fn horizontal_overflow(&mut self) -> Value {
        self.eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await
    }

    pub async fn press(&mut self, key: &str) {
        self.call(json!({"cmd": "press", "key": key})).await;
    }

    pub async fn select(&mut self, selector: &str, value: &str) {
        self.call(json!({"cmd": "select", "selector": selector, "value": value}))
            .await;
    }

    /// The mouse: `action` is move, down, up or wheel (by `delta_y`), at (x, y) in the viewport.
    pub async fn mouse(&mut self, action: &str, x: f64, y: f64, delta_y: f64) {
        self.call(json!({"cmd": "mouse", "action": action, "x": x, "y": y, "steps": 4, "delta_y": delta_y}))
            .await;
    }

    pub async fn viewport(&mut self, width: u32, height: u32) {
        self.call(json!({"cmd": "viewport", "width": width, "height": height}))
            .await;
    }

    /// Fails on uncaught exceptions in the page and on Content-Security-Policy violations (an
    /// inline style or script that the relay's CSP blocks).
    pub async fn assert_no_page_errors(&mut self) {
        let errors = self.call(json!({"cmd": "errors"})).await;
        let page_errors = errors["page_errors"].as_array().unwrap();
        assert!(
            page_errors.is_empty(),
            "errors in the page: {page_errors:?}"
        );
        let csp: Vec<&Value> = errors["console_errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| {
                m.as_str().is_some_and(|m| {
                    m.contains("Content Security Policy") || m.contains("Refused to")
                })
            })
            .collect();
        assert!(
            csp.is_empty(),
            "the relay's CSP blocked parts of the page: {csp:?}"
        );
    }

    /// Ends the driver (and Chromium) and waits for it.
    pub async fn close(mut self) {
        drop(self.stdin.take());
        let exited = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        assert!(
            matches!(exited, Ok(Ok(s)) if s.success()),
            "the browser driver did not end cleanly: {exited:?}"
        );
    }
}

/// A player's tile in the admin page's player grid.
pub fn tile(id: &str) -> String {
    format!(r#"#players-grid .tile-item[data-player="{id}"]"#)
}

/// A player's tile while the player is in `state` (`connected`, `in_game`, `disconnected`…).
pub fn tile_in(id: &str, state: &str) -> String {
    format!(r#"#players-grid .tile-item[data-player="{id}"][data-state="{state}"]"#)
}

/// A field of the open player detail (`address`, `since`, `seen`, `rtt`, `updates`, `received`,
/// `sent`, `queue`).
pub fn detail_field(field: &str) -> String {
    format!(r#"#player-detail[open] [data-field="{field}"]"#)
}
