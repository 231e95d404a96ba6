//! The admin page in each of its six languages, in the system's headless Chromium (see
//! `tests/browser/harness.rs`), each run with the browser set up in that language (its locale:
//! navigator.languages, Accept-Language): the page picks the language, `<html lang>` follows, its
//! words are in that language's script, a refusal of the relay is said in it with its numbers, and
//! Thai, Lao and Khmer are drawn with real glyphs (fonts that have them, not boxes). The language
//! chosen in the header is remembered, and switching keeps the page as it was (an open dialog,
//! the focus, the console, the world view), without a reload.
//!
//! vi, th, lo and km are filled in by their translators: while a file still holds the English texts
//! its script is not checked (the test says so); once it is translated, its words must be in its
//! script.
//!
//! Screenshots: `target/admin-lang-<code>.png` (1280×800, players in game) and
//! `target/admin-lang-th-tablet.png`, `target/admin-lang-km-tablet.png` (820×1180).

mod common;

#[path = "browser/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use harness::*;
use relay_testkit::{FakeGama, Headset};
use serde_json::json;

/// Each language, and the locale of the browser that asks for it (a region variant, as browsers
/// give it).
const LANGUAGES: [(&str, &str); 6] = [
    ("en", "en-US"),
    ("fr", "fr-FR"),
    ("vi", "vi-VN"),
    ("th", "th-TH"),
    ("lo", "lo-LA"),
    ("km", "km-KH"),
];

/// The classroom: fewer than the model's minimum, so a plain launch is refused.
const PLAYERS: [&str; 6] = [
    "Player_101",
    "Player_102",
    "Player_103",
    "Player_104",
    "Player_105",
    "Player_106",
];
const MIN: usize = 8;
const MAX: usize = 12;

/// A world step for every player, sent while the experiment runs (GAMA's output, flowing).
const STEP: &str = r#"{"pointsLoc":[{"c":[100000,700000,0,0]}],"isInit":false,"offsetYGeom":[],"names":["car3"],"keepNames":[],"propertyID":["car"],"pointsGeom":[],"attributes":[{}]}"#;

/// A language's texts (static/i18n/<code>.json).
fn texts(code: &str) -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("static/i18n/{code}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// `template` with each `{name}` replaced.
fn fill(template: &str, params: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in params {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The words of the page that the page itself writes (labels, buttons, states), one per line.
const PAGE_WORDS: &str = r#"(() => {
  const shown = (e) => e.getClientRects().length > 0;
  const own = [...document.querySelectorAll('[data-i18n]')].filter(shown).map((e) => e.textContent);
  const dynamic = ['#relay-link-text', '#experiment-state-text', '#clock-status-text', '#players-attention-text', '#limits', '#world-status-text', '#sessions-title', '#audit-title', '.tile-state']
    .flatMap((s) => [...document.querySelectorAll(s)]).filter(shown).map((e) => e.textContent);
  return [...own, ...dynamic].join('\n');
})()"#;

/// Letters of `text` (Unicode letters and the marks of the scripts that use them).
fn letters(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().filter(|c| {
        c.is_alphabetic()
            || ('\u{0E00}'..='\u{0EFF}').contains(c)
            || ('\u{1780}'..='\u{17FF}').contains(c)
    })
}

/// Checks the page's words are in `code`'s language (its script for vi, th, lo, km).
fn check_script(code: &str, words: &str, translated: bool) {
    let total = letters(words).count();
    assert!(total > 200, "{code}: too few words on the page: {words}");
    let share = |in_script: &dyn Fn(char) -> bool| {
        letters(words).filter(|c| in_script(*c)).count() as f64 / total as f64
    };
    match code {
        "en" => {
            for word in ["Players", "Launch", "in game", "Learning packages"] {
                assert!(words.contains(word), "en: no \"{word}\" in {words}");
            }
        }
        "fr" => {
            assert!(translated, "fr.json still holds the English texts");
            for word in [
                "Joueurs",
                "Lancer",
                "Mettre en pause",
                "Reprendre",
                "Arrêter",
                "en jeu",
                "Modules pédagogiques",
            ] {
                assert!(words.contains(word), "fr: no \"{word}\" in {words}");
            }
            for word in ["Players", "Launch", "Learning packages"] {
                assert!(
                    !words.contains(word),
                    "fr: \"{word}\" is still English in {words}"
                );
            }
            let accented = share(&|c| "éèêàâçôîûù".contains(c));
            assert!(
                accented > 0.01,
                "fr: hardly any accent ({accented:.3}): {words}"
            );
        }
        _ if !translated => {
            eprintln!(
                "{code}.json still holds the English texts: the script of its words is not checked yet"
            );
        }
        "vi" => {
            // Letters only Vietnamese uses among the page's languages: ă â đ ê ô ơ ư and the
            // letters with tone marks of Latin Extended Additional.
            let vietnamese =
                share(&|c| "ăĂđĐơƠưƯâÂêÊôÔ".contains(c) || ('\u{1EA0}'..='\u{1EF9}').contains(&c));
            assert!(
                vietnamese > 0.08,
                "vi: the page's words are not Vietnamese ({:.0} % of its letters with Vietnamese marks): {words}",
                vietnamese * 100.0
            );
        }
        "th" | "lo" | "km" => {
            let range = match code {
                "th" => '\u{0E00}'..='\u{0E7F}',
                "lo" => '\u{0E80}'..='\u{0EFF}',
                _ => '\u{1780}'..='\u{17FF}',
            };
            let in_script = share(&|c| range.contains(&c));
            assert!(
                in_script > 0.5,
                "{code}: only {:.0} % of the page's letters are in its script: {words}",
                in_script * 100.0
            );
        }
        _ => unreachable!(),
    }
}

/// For th, lo and km: a word of the script in the page is drawn with a font of that script (not
/// the Latin font's empty boxes), and its marks are shaped over their letter (no width of their
/// own, where boxes would each take one).
async fn check_glyphs(browser: &mut Browser, code: &str) {
    let (word, letter, mark, script) = match code {
        "th" => ("ภาษาไทย", "ก", "ก\u{0E48}", "Thai"),
        "lo" => ("ພາສາລາວ", "ກ", "ກ\u{0EC8}", "Lao"),
        "km" => ("ភាសាខ្មែរ", "ក", "ក\u{17CB}", "Khmer"),
        _ => return,
    };
    browser
        .eval(&format!(
            "(() => {{ const p = document.createElement('p'); p.id = 'glyph-probe'; p.lang = '{code}'; p.textContent = '{word}'; document.querySelector('#players-legend').after(p); return true; }})()"
        ))
        .await;
    let fonts = browser
        .call(json!({"cmd": "fonts", "selector": "#glyph-probe"}))
        .await["fonts"]
        .take();
    let families: Vec<&str> = fonts
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["familyName"].as_str().unwrap())
        .collect();
    assert!(
        families.iter().all(|f| f.contains(script)),
        "{code}: {word} is drawn with {families:?}, not a {script} font (scripts/test.sh installs fonts-noto-core)"
    );
    let widths = browser
        .eval(&format!(
            "(() => {{ const c = document.createElement('canvas').getContext('2d'); c.font = `16px ${{getComputedStyle(document.querySelector('#glyph-probe')).fontFamily}}`; return [c.measureText('{letter}').width, c.measureText('{mark}').width, c.measureText('\\u{{E000}}').width, document.fonts.check('16px \"Noto Sans {script}\"')]; }})()"
        ))
        .await;
    let [letter_w, marked_w, box_w] =
        [0, 1, 2].map(|i| widths[i].as_f64().unwrap_or_else(|| panic!("{widths}")));
    assert!(
        (marked_w - letter_w).abs() < 0.5 && letter_w > 1.0,
        "{code}: a mark over {letter} takes room of its own ({letter_w} then {marked_w} px): boxes, not glyphs"
    );
    eprintln!(
        "{code}: {word} drawn with {families:?}; {letter} {letter_w:.1} px, with its mark {marked_w:.1} px, an empty box {box_w:.1} px; fonts.check: {}",
        widths[3]
    );
    browser
        .eval("document.querySelector('#glyph-probe').remove()")
        .await;
}

/// The experiment running with every player in game, and GAMA's output reaching each of them ten
/// times a second until the returned task is aborted.
async fn play(relay: &TestRelay, gama: &Arc<FakeGama>) -> tokio::task::JoinHandle<()> {
    relay.wait_in_game(&PLAYERS).await;
    let gama = Arc::clone(gama);
    tokio::spawn(async move {
        loop {
            gama.send_linker_output(&linker_output(&PLAYERS, STEP));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

async fn stop(relay: &TestRelay, feeder: tokio::task::JoinHandle<()>) {
    feeder.abort();
    let (status, body) = relay.post("/api/experiment/stop", None).await;
    assert_eq!(status, 200, "stop: {body}");
    relay.wait_experiment("NONE").await;
}

/// Fails `test` unless the fonts the page asks for in Thai, Lao and Khmer are installed
/// (fontconfig, which Chromium uses on Linux): Debian's fonts-noto-core.
fn require_fonts(test: &str) {
    let missing: Vec<&str> = ["Noto Sans Thai", "Noto Sans Lao", "Noto Sans Khmer"]
        .into_iter()
        .filter(|family| {
            std::process::Command::new("fc-list")
                .arg(format!("{family}:family"))
                .output()
                .map_or(true, |o| o.stdout.is_empty())
        })
        .collect();
    relay_testkit::prereq::require(
        test,
        (!missing.is_empty()).then(|| {
            format!("the fonts {missing:?} are not installed (Debian package fonts-noto-core)")
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_page_speaks_each_language() {
    require_browser("the_page_speaks_each_language");
    require_fonts("the_page_speaks_each_language");
    let started = Instant::now();
    let gama = Arc::new(desktop_autorun().await);
    let relay = TestRelay::builder(&gama)
        .players(&MIN.to_string(), &MAX.to_string())
        .config(|c| {
            c.session.auto_launch = false;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let mut headsets = Vec::new();
    for id in PLAYERS {
        headsets.push(relay.join(id).await);
    }
    let _intruder = a_laptop_claiming_a_player_s_id_waits(&relay).await;
    let english = texts("en");
    for (code, locale) in LANGUAGES {
        let words = texts(code);
        let translated = code == "en" || words != english;
        let mut browser =
            the_page_chooses_the_browser_s_language(&relay, code, locale, &words).await;
        a_refusal_is_said_in_the_language_then_launch_anyway(&mut browser, &words).await;
        let feeder = running_every_tile_says_its_rate(&mut browser, &relay, &gama, &words).await;
        the_words_and_numbers_are_the_language_s(&mut browser, code, translated).await;
        nothing_is_cut_at_any_width_then_the_pictures(&mut browser, code).await;
        browser.assert_no_page_errors().await;
        browser.close().await;
        stop(&relay, feeder).await;
        eprintln!(
            "{code} ({locale}): {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    switching_keeps_the_page(&relay, &gama).await;
    gama_away_in_french(&relay, &gama).await;
    drop(headsets);
    eprintln!(
        "languages test: {:.1} s; screenshots: {}",
        started.elapsed().as_secs_f64(),
        target_dir().join("admin-lang-*.png").display()
    );
}

/// A student's laptop claims a player's id: it waits, which Recent changes and the Players panel
/// say. Returns the laptop's connection.
async fn a_laptop_claiming_a_player_s_id_waits(relay: &TestRelay) -> Headset {
    let intruder = Headset::connect_from(relay.headset_addr(), "127.0.0.2".parse().unwrap())
        .await
        .unwrap();
    intruder.register(PLAYERS[0]).await.unwrap();
    intruder
        .recv_type("error", Duration::from_secs(5))
        .await
        .unwrap();
    intruder
}

/// A browser set up in `locale` opens the page: it is live, lists the players, and speaks `code`
/// (its `words`).
async fn the_page_chooses_the_browser_s_language(
    relay: &TestRelay,
    code: &str,
    locale: &str,
    words: &BTreeMap<String, String>,
) -> Browser {
    let mut browser = Browser::start_in(locale).await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    browser.wait(&tile_in(PLAYERS[5], "connected")).await;
    assert_eq!(
        browser.eval("document.documentElement.lang").await,
        code,
        "{locale}: the page did not choose {code}"
    );
    browser
        .wait_text("#experiment-state-text", &words["experiment.state.none"])
        .await;
    browser
}

/// A refusal of the relay, in the page's language (its `words`) with its numbers: the model needs
/// 8 players and 6 are connected. Recent changes say it too, and the headset turned away. The
/// question that follows too; "launch anyway" starts it.
async fn a_refusal_is_said_in_the_language_then_launch_anyway(
    browser: &mut Browser,
    words: &BTreeMap<String, String>,
) {
    browser.click("#launch").await;
    let reason = fill(
        &words["errors.below_minimum.other"],
        &[
            ("model", "Demo"),
            ("min", &MIN.to_string()),
            ("connected", &PLAYERS.len().to_string()),
        ],
    );
    let refusal = fill(&words["actions.launch_failed"], &[("reason", &reason)]);
    browser.wait_text("#message", &refusal).await;
    // Recent changes: the launch not done, and the headset turned away, in the same words.
    browser
        .wait_text(
            "#audit-card",
            &fill(&words["audit.not_done_why"], &[("reason", &reason)]),
        )
        .await;
    browser
        .wait_text(
            "#audit-card",
            &fill(
                &words["audit.refused.id_in_use_waiting"],
                &[("player", PLAYERS[0]), ("address", "127.0.0.1")],
            ),
        )
        .await;
    browser.wait("#confirm[open]").await;
    browser
        .wait_text("#confirm-title", &words["actions.launch_anyway_title"])
        .await;
    browser.wait_text("#confirm-text", &reason).await;
    browser
        .wait_text("#confirm-ok", &words["actions.launch_anyway"])
        .await;
    browser.click("#confirm-ok").await;
    browser
        .wait(r#"#experiment-state[data-state="RUNNING"]"#)
        .await;
    browser
        .wait_text("#message", &words["actions.launch_done_forced"])
        .await;
}

/// Running, GAMA's output flowing to every player (until the returned feeder is aborted): the
/// state in the page's `words`, every player in game, every tile with its rate.
async fn running_every_tile_says_its_rate(
    browser: &mut Browser,
    relay: &TestRelay,
    gama: &Arc<FakeGama>,
    words: &BTreeMap<String, String>,
) -> tokio::task::JoinHandle<()> {
    let feeder = play(relay, gama).await;
    browser
        .wait_text("#experiment-state-text", &words["experiment.state.running"])
        .await;
    for id in PLAYERS {
        browser.wait(&tile_in(id, "in_game")).await;
    }
    browser
        .call(json!({"cmd": "wait", "selector": r#"#clock-status[data-state="flowing"]"#, "timeout_ms": 8000}))
        .await;
    // Every tile says its rate (the page measures it over two of the relay's documents).
    browser
        .wait_fn(
            "[...document.querySelectorAll('#players-grid .rate')].every((e) => parseFloat(e.dataset.rate) > 5)",
            8000,
        )
        .await;
    feeder
}

/// The page's words are in `code`'s script (once `translated`), drawn with its glyphs, and its
/// numbers written the language's way: French writes 9,5.
async fn the_words_and_numbers_are_the_language_s(
    browser: &mut Browser,
    code: &str,
    translated: bool,
) {
    let page_words = browser.eval(PAGE_WORDS).await;
    check_script(code, page_words.as_str().unwrap(), translated);
    check_glyphs(browser, code).await;

    // Numbers in the language's way: French writes 9,5.
    let rate = browser
        .eval("document.querySelector('#clock-rate').textContent")
        .await;
    let rate = rate.as_str().unwrap();
    if code == "fr" {
        assert!(rate.contains(','), "fr: the pace is written {rate}");
    } else if code == "en" {
        assert!(rate.contains('.'), "en: the pace is written {rate}");
    }
}

/// Nothing wider than the screen, the controls at hand, no word cut, on a laptop, a tablet and a
/// phone; then the pictures: `admin-lang-<code>.png`, and on a tablet for Thai and Khmer.
async fn nothing_is_cut_at_any_width_then_the_pictures(browser: &mut Browser, code: &str) {
    for (width, height) in [(1280, 800), (820, 1180), (390, 844)] {
        browser.viewport(width, height).await;
        let sideways = browser.horizontal_overflow().await;
        assert_eq!(
            sideways, 0,
            "{code}: the page scrolls sideways at {width} px"
        );
        let cut = browser
            .eval("[...document.querySelectorAll('#topbar button, .tile-state, .pid, #relay-link, #language')].filter((e) => e.getClientRects().length && e.scrollWidth > e.clientWidth + 1).map((e) => e.id || e.className)")
            .await;
        assert_eq!(cut, json!([]), "{code}: cut words at {width} px");
    }
    browser.viewport(1280, 800).await;
    browser.eval("window.scrollTo(0, 0)").await;
    let shot = target_dir().join(format!("admin-lang-{code}.png"));
    browser
        .call(json!({"cmd": "screenshot", "path": shot, "full_page": false}))
        .await;
    if code == "th" || code == "km" {
        browser.viewport(820, 1180).await;
        let shot = target_dir().join(format!("admin-lang-{code}-tablet.png"));
        browser
            .call(json!({"cmd": "screenshot", "path": shot, "full_page": false}))
            .await;
        browser.viewport(1280, 800).await;
    }
}

/// GAMA goes away: a French page says why, from the relay's code, with the port in it.
async fn gama_away_in_french(relay: &TestRelay, gama: &Arc<FakeGama>) {
    let fr = texts("fr");
    let port = gama.port();
    gama.kill().await;
    let mut browser = Browser::start_in("fr-FR").await;
    browser.open(&format!("{}/", relay.base)).await;
    let why = fill(
        &fr["gama.why.connection_refused"],
        &[("port", &port.to_string())],
    );
    let expected = fill(&fr["gama.reason_retrying"], &[("reason", &why)]);
    let shown = format!(
        "document.querySelector('#gama-reason').textContent === {}",
        json!(expected)
    );
    browser.wait_fn(&shown, 15_000).await;
    browser.assert_no_page_errors().await;
    browser.close().await;
}

/// The console's entries: `[expression, answer]` each (a JS expression).
const CONSOLE: &str = "[...document.querySelectorAll('#console-log li')].map((li) => [li.querySelector('.console-expr').textContent, li.querySelector('.console-text').textContent])";
/// The world view's state (a JS expression).
const WORLD_VIEW: &str = "window.worldView.snapshot()";

/// What the page held before its language changed.
struct Held {
    /// The console's entries ([`CONSOLE`]).
    console: serde_json::Value,
    /// The player the world view followed.
    followed: serde_json::Value,
    /// How many messages the world view had had.
    messages: u64,
}

/// In an English browser: French chosen in the header while a player's detail is open, the console
/// holds an answer and the world view follows a player; everything stays (no reload), in French.
/// Then Thai with the keyboard's focus on the choice, and a reload keeps Thai.
async fn switching_keeps_the_page(relay: &TestRelay, gama: &Arc<FakeGama>) {
    let (status, body) = relay
        .post("/api/experiment/launch", Some(r#"{"force":true}"#))
        .await;
    assert_eq!(status, 200, "launch: {body}");
    let feeder = play(relay, gama).await;
    let (mut browser, held) = an_english_page_with_an_answer_and_a_followed_player(relay).await;
    french_chosen_with_a_detail_open_keeps_everything(&mut browser, &held).await;
    thai_chosen_with_the_keyboard_is_remembered(&mut browser, relay).await;
    browser.assert_no_page_errors().await;
    browser.close().await;
    stop(relay, feeder).await;
}

/// An English page, marked to tell a reload, whose console holds the answer to `cycle` and whose
/// world view follows a player. Returns the browser and what the page holds.
async fn an_english_page_with_an_answer_and_a_followed_player(
    relay: &TestRelay,
) -> (Browser, Held) {
    let mut browser = Browser::start().await;
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    assert_eq!(browser.eval("document.documentElement.lang").await, "en");
    browser.eval("window.__sameDocument = true").await;
    browser
        .wait(r#"#console-submit[aria-disabled="false"]"#)
        .await;
    browser.fill("#console-input", "cycle").await;
    browser.press("Enter").await;
    browser.wait(r#"#console-log li[data-status="ok"]"#).await;
    let console = browser.eval(CONSOLE).await;
    browser
        .wait_fn(
            &format!("{WORLD_VIEW}.connected && {WORLD_VIEW}.player"),
            5000,
        )
        .await;
    let followed = browser.eval(&format!("{WORLD_VIEW}.player")).await;
    let messages = browser
        .eval(&format!("{WORLD_VIEW}.messages"))
        .await
        .as_u64()
        .unwrap();
    let held = Held {
        console,
        followed,
        messages,
    };
    (browser, held)
}

/// French chosen in the header while a player's detail is open: the detail stays open with the
/// focus where it was, in French; the page's words, the console (as `held`) and the world view
/// stay, without a reload.
async fn french_chosen_with_a_detail_open_keeps_everything(browser: &mut Browser, held: &Held) {
    let fr = texts("fr");
    browser.click(&format!("{} .tile", tile(PLAYERS[0]))).await;
    browser.wait("#player-detail[open]").await;
    browser
        .wait_text(&detail_field("received"), " messages")
        .await;
    assert_eq!(
        browser.eval("document.activeElement.id").await,
        "detail-close"
    );
    // The dialog is modal: the choice in the header is made for it, as a keyboard user would
    // after closing it.
    browser
        .eval("(() => { const s = document.querySelector('#language'); s.value = 'fr'; s.dispatchEvent(new Event('change')); return true; })()")
        .await;
    browser
        .wait_fn("document.documentElement.lang === 'fr'", 5000)
        .await;
    browser.wait("#player-detail[open]").await;
    browser
        .wait_text("#detail-close", &fr["common.close"])
        .await;
    browser
        .wait_text("#detail-state", &fr["player.state.in_game"])
        .await;
    browser
        .wait_text(&detail_field("received"), " messages")
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('#player-detail [data-i18n=\"detail.address\"]').textContent")
            .await,
        fr["detail.address"]
    );
    assert_eq!(
        browser.eval("document.activeElement.id").await,
        "detail-close",
        "the focus moved when the language changed"
    );
    browser.wait_text("#launch", &fr["controls.launch"]).await;
    browser
        .wait_text(&tile(PLAYERS[1]), &fr["tile.in_game"])
        .await;
    browser
        .wait_text("#experiment-state-text", &fr["experiment.state.running"])
        .await;
    assert_eq!(
        browser.eval(CONSOLE).await,
        held.console,
        "the console changed with the language"
    );
    browser.wait_text("#console-log", &fr["console.copy"]).await;
    assert_eq!(
        browser.eval(&format!("{WORLD_VIEW}.player")).await,
        held.followed
    );
    browser
        .wait_fn(
            &format!(
                "{WORLD_VIEW}.connected && {WORLD_VIEW}.messages > {}",
                held.messages
            ),
            5000,
        )
        .await;
    assert_eq!(
        browser.eval("window.__sameDocument === true").await,
        true,
        "the page was reloaded"
    );
    browser.close_detail_back_to(PLAYERS[0]).await;
}

/// With the keyboard on the choice, Thai: the focus stays there. Remembered: a reload (and a new
/// visit) keeps Thai, though the browser asks for English. Then back to English.
async fn thai_chosen_with_the_keyboard_is_remembered(browser: &mut Browser, relay: &TestRelay) {
    let en = texts("en");
    browser.focus("#language").await;
    browser.select("#language", "th").await;
    browser
        .wait_fn("document.documentElement.lang === 'th'", 5000)
        .await;
    assert_eq!(browser.eval("document.activeElement.id").await, "language");
    let th = texts("th");
    browser.wait_text("#launch", &th["controls.launch"]).await;
    // Remembered: a reload (and a new visit) keeps Thai, though the browser asks for English.
    browser.open(&format!("{}/", relay.base)).await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    assert_eq!(browser.eval("document.documentElement.lang").await, "th");
    assert_eq!(
        browser
            .eval("document.querySelector('#language').value")
            .await,
        "th"
    );
    assert_eq!(
        browser
            .eval("localStorage.getItem('gama-vr-relay.language')")
            .await,
        "th"
    );
    browser.select("#language", "en").await;
    browser
        .wait_fn("document.documentElement.lang === 'en'", 5000)
        .await;
    browser.wait_text("#launch", &en["controls.launch"]).await;
}
