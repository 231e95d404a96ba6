//! The admin page's languages, without a browser: every file in `static/i18n/` has exactly the
//! keys of English (`en.json`, the reference), each value the same `{placeholders}` as English's
//! and none empty; every key the page uses (`t('…')` and the key tables in `static/*.js`,
//! `data-i18n*="…"` in `static/index.html` and `static/screens.html`) is in English, and every English key is used. A key
//! `x` used with a count may be the family `x.one` / `x.other`.
//!
//! Keys stay greppable: a key is never built by joining strings. A call `t(…)` whose key is not
//! written out is either a choice between written-out keys (`t(ok ? 'a.b' : 'a.c')`) or one of
//! the lookups in [`KEY_TABLES`], whose tables hold the keys written out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The page's languages: English first (the reference).
const LANGUAGES: [&str; 6] = ["en", "fr", "vi", "th", "lo", "km"];

/// Lookups in tables of keys, by file: the argument of `t(…)` (or the key of `tInto(…)`) as written.
const KEY_TABLES: &[(&str, &str)] = &[
    ("format.js", "BYTE_UNITS[i]"),
    ("said.js", "STATE_IN_SENTENCE[state]"),
    ("said.js", "OPERATIONS[operation]"),
    ("relay.js", "LINK[state]"),
    ("words.js", "Array.isArray(entry) ? entry[0] : entry"),
    ("pace.js", "OUTPUT_WHILE[exp]"),
    ("status.js", "MODES[g.mode]"),
    ("player-tiles.js", "att.word"),
    ("player-detail.js", "STATE_NOTE[p.state]"),
    ("screens.js", "LINK[state]"),
    // ADB_STATES's keys, and STATUS's.
    ("screen-words.js", "key"),
    // tInto(…, key, …): AUTH_WHY's keys.
    ("relay.js", "key"),
    // i18n.js itself: t() and the data-i18n attributes.
    ("i18n.js", "key"),
    ("i18n.js", "node.getAttribute(`data-i18n-${name}`)"),
    ("i18n.js", "node.dataset.i18n"),
];

fn static_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("static")
}

/// A language file: a flat JSON object of strings.
fn language(code: &str) -> BTreeMap<String, String> {
    let path = static_dir().join("i18n").join(format!("{code}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{} is not a JSON object", path.display()));
    object
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_else(|| {
                panic!("{code}.json: \"{k}\" is not a string (the files are flat: key → text)")
            });
            (k.clone(), v.to_string())
        })
        .collect()
}

/// The `{name}` placeholders of a text.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    found.insert(name.to_string());
                }
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    found
}

/// A key without its plural form (`x.one` → `x`).
fn base(key: &str) -> &str {
    key.strip_suffix(".one")
        .or_else(|| key.strip_suffix(".other"))
        .unwrap_or(key)
}

/// The single-quoted string literals of a JavaScript source.
fn literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = source.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '/' if chars.peek().map(|(_, c)| *c) == Some('/') => {
                // A comment: to the end of the line.
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().map(|(_, c)| *c) == Some('*') => {
                // A block comment: to its end.
                let mut star = false;
                for (_, c) in chars.by_ref() {
                    if star && c == '/' {
                        break;
                    }
                    star = c == '*';
                }
            }
            '\'' | '"' | '`' => {
                let mut text = String::new();
                // In a template, what ${…} holds is code: its literals count too.
                let mut code = String::new();
                let mut depth = 0;
                while let Some((_, d)) = chars.next() {
                    if depth > 0 {
                        match d {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        if depth > 0 {
                            code.push(d);
                        } else {
                            code.push('\n');
                        }
                    } else if d == '\\' {
                        if let Some((_, e)) = chars.next() {
                            text.push(e);
                        }
                    } else if d == c {
                        break;
                    } else if c == '`' && d == '$' && chars.peek().map(|(_, e)| *e) == Some('{') {
                        chars.next();
                        depth = 1;
                    } else {
                        text.push(d);
                    }
                }
                if c == '\'' {
                    out.push(text);
                }
                out.extend(literals(&code));
            }
            _ => {}
        }
    }
    out
}

/// The arguments of each call of `name(` in a source, as written.
fn calls(source: &str, name: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let pattern = format!("{name}(");
    let mut from = 0;
    while let Some(at) = source[from..].find(&pattern) {
        let start = from + at;
        from = start + pattern.len();
        let before = source[..start].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.') {
            continue;
        }
        // A function's own definition (`function t(key, params)`): not a call.
        if source[..start].trim_end().ends_with("function") {
            continue;
        }
        let mut depth = 0i32;
        let mut quote: Option<char> = None;
        let mut args = Vec::new();
        let mut arg = String::new();
        let mut chars = source[from..].chars();
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                arg.push(c);
                if c == '\\' {
                    if let Some(e) = chars.next() {
                        arg.push(e);
                    }
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '\'' | '"' | '`' => {
                    quote = Some(c);
                    arg.push(c);
                }
                '(' | '[' | '{' => {
                    depth += 1;
                    arg.push(c);
                }
                ')' | ']' | '}' if depth > 0 => {
                    depth -= 1;
                    arg.push(c);
                }
                ',' if depth == 0 => args.push(std::mem::take(&mut arg).trim().to_string()),
                ')' if depth == 0 => break,
                _ => arg.push(c),
            }
        }
        args.push(arg.trim().to_string());
        out.push(args);
    }
    out
}

/// The first argument of each call of `name(` in a source, as written.
fn first_arguments(source: &str, name: &str) -> Vec<String> {
    calls(source, name)
        .into_iter()
        .map(|mut args| args.swap_remove(0))
        .collect()
}

/// The keys index.html names in data-i18n, data-i18n-aria-label, data-i18n-title…
fn html_keys(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("data-i18n") {
        rest = &rest[at + "data-i18n".len()..];
        let name_end = rest.find('=').unwrap_or(0);
        let attribute = &rest[..name_end];
        if attribute.contains(char::is_whitespace) || !rest[name_end..].starts_with("=\"") {
            continue;
        }
        let value = &rest[name_end + 2..];
        let end = value.find('"').expect("an attribute value ends");
        // data-i18n-slot names a placeholder, not a key.
        if attribute != "-slot" {
            out.push(value[..end].to_string());
        }
        rest = &value[end..];
    }
    out
}

/// The page's scripts: (file name, source).
fn scripts() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(static_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 5, "the page's scripts are in static/: {out:?}");
    out
}

#[test]
fn every_language_has_exactly_the_keys_and_placeholders_of_english() {
    let english = language("en");
    assert!(english.len() > 100, "en.json holds {} texts", english.len());
    let mut problems = Vec::new();
    for code in LANGUAGES {
        let texts = language(code);
        for key in english.keys().filter(|k| !texts.contains_key(*k)) {
            problems.push(format!("{code}.json lacks \"{key}\""));
        }
        for key in texts.keys().filter(|k| !english.contains_key(*k)) {
            problems.push(format!(
                "{code}.json has \"{key}\", which English no longer has"
            ));
        }
        for (key, text) in &texts {
            if text.trim().is_empty() {
                problems.push(format!("{code}.json: \"{key}\" is empty"));
            }
            if let Some(reference) = english.get(key) {
                let (want, got) = (placeholders(reference), placeholders(text));
                if want != got {
                    problems.push(format!(
                        "{code}.json: \"{key}\" has the placeholders {got:?}, English {want:?}"
                    ));
                }
            }
        }
    }
    // A plural family has both forms in English.
    for key in english.keys() {
        for (form, other) in [(".one", ".other"), (".other", ".one")] {
            if let Some(family) = key.strip_suffix(form) {
                if !english.contains_key(&format!("{family}{other}")) {
                    problems.push(format!("en.json has \"{key}\" but not \"{family}{other}\""));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_page_lists_exactly_the_six_languages() {
    let i18n = std::fs::read_to_string(static_dir().join("i18n.js")).unwrap();
    for code in LANGUAGES {
        assert!(
            i18n.contains(&format!("code: '{code}'")),
            "i18n.js does not offer {code}"
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(static_dir().join("i18n"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let mut want: Vec<String> = LANGUAGES.iter().map(|c| format!("{c}.json")).collect();
    want.sort();
    assert_eq!(files, want, "static/i18n/ holds one file per language");
}

/// English's texts, by key: whether a key exists and whether a string looks like one.
struct EnglishKeys<'a> {
    english: &'a BTreeMap<String, String>,
    /// The first parts of English's keys (`actions`, `player`…).
    namespaces: BTreeSet<&'a str>,
}

impl<'a> EnglishKeys<'a> {
    fn new(english: &'a BTreeMap<String, String>) -> Self {
        let namespaces = english
            .keys()
            .map(|k| k.split('.').next().unwrap())
            .collect();
        EnglishKeys {
            english,
            namespaces,
        }
    }

    /// `key` is in English, as such or as a plural (`key.one` and `key.other`).
    fn exists(&self, key: &str) -> bool {
        self.english.contains_key(key)
            || (self.english.contains_key(&format!("{key}.one"))
                && self.english.contains_key(&format!("{key}.other")))
    }

    /// `s` looks like a key: dotted, in one of English's namespaces, in a key's letters.
    fn looks_like_key(&self, s: &str) -> bool {
        s.contains('.')
            && self.namespaces.contains(s.split('.').next().unwrap())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
    }
}

#[test]
fn every_key_the_page_uses_is_in_english_and_every_english_key_is_used() {
    let english = language("en");
    let keys = EnglishKeys::new(&english);
    let bases: BTreeSet<&str> = english.keys().map(|k| base(k)).collect();
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for (file, source) in scripts() {
        for literal in literals(&source) {
            if keys.looks_like_key(&literal) {
                used.insert(literal, file.clone());
            }
        }
        problems.extend(keys_given_to_t_are_written_out_and_in_english(
            &file, &source, &keys,
        ));
    }
    for page in ["index.html", "screens.html"] {
        let html = std::fs::read_to_string(static_dir().join(page)).unwrap();
        for key in html_keys(&html) {
            used.insert(key, page.into());
        }
    }
    for (key, file) in &used {
        if !keys.exists(key) {
            problems.push(format!("{file} uses \"{key}\", which en.json lacks"));
        }
    }
    for family in &bases {
        if !used.contains_key(*family) {
            problems.push(format!(
                "en.json has \"{family}\", which no file of the page uses"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!(
        "{} keys used by the page, {} texts in English",
        used.len(),
        english.len()
    );
}

/// The problems of the keys `source` (the script `file`) gives to t(key, …) and tInto(node, key,
/// …): each must be written out (a literal, a lookup in [`KEY_TABLES`], or a choice between
/// literals) and in English.
fn keys_given_to_t_are_written_out_and_in_english(
    file: &str,
    source: &str,
    keys: &EnglishKeys,
) -> Vec<String> {
    let mut problems = Vec::new();
    // t(key, …) and tInto(node, key, …).
    let args = first_arguments(source, "t").into_iter().chain(
        calls(source, "tInto")
            .into_iter()
            .filter_map(|args| args.get(1).cloned()),
    );
    for arg in args {
        if arg.len() >= 2 && arg.starts_with('\'') && arg.ends_with('\'') {
            let key = &arg[1..arg.len() - 1];
            if !keys.exists(key) {
                problems.push(format!("{file}: t('{key}') is not in en.json"));
            }
            continue;
        }
        if KEY_TABLES.contains(&(file, arg.as_str())) {
            continue;
        }
        if arg.contains('+') || arg.contains('`') {
            problems.push(format!(
                "{file}: t({arg}) builds its key: write the keys out (a table, or a choice between written-out keys)"
            ));
            continue;
        }
        // A choice between written-out keys (the other literals are what the choice compares).
        let quoted: Vec<String> = literals(&arg)
            .into_iter()
            .filter(|k| k.contains('.'))
            .collect();
        if quoted.is_empty() {
            problems.push(format!(
                "{file}: t({arg}): a key that is not written out; if it is looked up in a table of written-out keys, add the lookup to KEY_TABLES in tests/i18n.rs"
            ));
        }
        for key in quoted.iter().filter(|k| !keys.exists(k)) {
            problems.push(format!("{file}: t({arg}) names \"{key}\", not in en.json"));
        }
    }
    problems
}

#[test]
fn the_translators_notes_say_where_every_key_appears() {
    let english = language("en");
    let notes =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/translating.md"))
            .unwrap();
    let missing: BTreeSet<&str> = english
        .keys()
        .map(|k| base(k))
        .filter(|b| !notes.contains(&format!("`{b}`")) && !notes.contains(&format!("`{b}.one`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/translating.md says nothing of {missing:?}"
    );
}

#[test]
fn the_helpers_of_this_test_read_what_they_should() {
    assert_eq!(
        placeholders("{a} of {b_c} {not a} {}"),
        BTreeSet::from(["a".to_string(), "b_c".to_string()])
    );
    assert_eq!(
        literals(
            "t('a.b', { x: \"c.d\" }); // 'e.f'\nconst y = `g.h ${t('k.l')} it's`; /* it's */ 'i.j'"
        ),
        vec!["a.b".to_string(), "k.l".to_string(), "i.j".to_string()]
    );
    assert_eq!(
        first_arguments(
            "t('a.b', {x}); foo.t(c); t(ok ? 'a.c' : 'a.d', f(1, 2)); export function t(key) {}",
            "t"
        ),
        vec!["'a.b'", "ok ? 'a.c' : 'a.d'"]
    );
    assert_eq!(
        html_keys(
            r#"<p data-i18n="a.b">x <code data-i18n-slot="code">y</code></p><i data-i18n-aria-label="c.d"></i>"#
        ),
        vec!["a.b", "c.d"]
    );
}
