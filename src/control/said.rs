//! What the relay tells people outside an API error: why GAMA is unreachable, what is wrong in a
//! learning package, why a headset was turned away, what an operator did and why it was not done.
//!
//! The log and scripts read the relay's own English words; the admin page speaks its reader's
//! language, so each message also carries a stable code and the values in it (`params`), as API
//! errors do (README, "Admin API"). The page words a code it knows and falls back to the English
//! text for one it does not.
//!
//! [`Code`] is the one list of those codes, API errors included: each with the keys of the page's
//! language files (`static/i18n/*.json`) it is worded with, or marked as shown in the words it
//! carries (GAMA's message, a tool's command). A test holds every language file to the list.

use serde::Serialize;
use serde_json::{Map, Value};

/// Declares [`Code`]: each code, its name on the wire, and how the page words it.
macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal => $words:expr;)*) => {
        /// Every code the relay gives the admin page, grouped by what it is about.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in the order of the list.
            #[cfg(test)]
            pub(crate) const ALL: &[Code] = &[$(Code::$variant,)*];

            /// Its stable name, as the API and the page's scripts know it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $wire,)*
                }
            }

            /// How the page puts it in words.
            pub const fn words(self) -> Words {
                match self {
                    $(Code::$variant => $words,)*
                }
            }
        }
    };
}

/// How the page puts a code in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Words {
    /// With these keys of its language files (a plural key stands for its `.one` and `.other`).
    Keys(&'static [&'static str]),
    /// In the words the message carries, which are not the relay's to translate (GAMA's own
    /// message, a tool's command).
    Carried,
}

use Words::{Carried, Keys};

codes! {
    // API errors (`{"error", "code", "params"}`) and an operation's refusal.
    /// An operation is under way.
    Busy = "busy" => Keys(&["errors.busy", "errors.busy_other"]);
    /// An experiment is already open.
    ExperimentOpen = "experiment_open" => Keys(&["errors.experiment_open"]);
    /// No model chosen.
    NoModel = "no_model" => Keys(&["errors.no_model"]);
    /// Fewer headsets than the model's minimum.
    BelowMinimum = "below_minimum" => Keys(&["errors.below_minimum"]);
    /// Pause asked of an experiment that is not running.
    NothingToPause = "nothing_to_pause" => Keys(&["errors.nothing_to_pause"]);
    /// Resume asked of an experiment that is not paused.
    NothingToResume = "nothing_to_resume" => Keys(&["errors.nothing_to_resume"]);
    /// No experiment is live in GAMA.
    NoLiveExperiment = "no_live_experiment" =>
        Keys(&["errors.no_live_experiment", "errors.no_live_experiment_state"]);
    /// No model with that index.
    UnknownModel = "unknown_model" => Keys(&["errors.unknown_model"]);
    /// No player with that id.
    UnknownPlayer = "unknown_player" => Keys(&["errors.unknown_player"]);
    /// GAMA is not connected (with why, as a GAMA code, when known).
    GamaNotConnected = "gama_not_connected" =>
        Keys(&["errors.gama_not_connected", "errors.gama_not_connected_reason"]);
    /// GAMA went away during a command.
    GamaLost = "gama_lost" => Keys(&["errors.gama_lost"]);
    /// Too many commands wait for GAMA.
    GamaBusy = "gama_busy" => Keys(&["errors.gama_busy"]);
    /// GAMA did not answer a command in time.
    GamaTimeout = "gama_timeout" => Keys(&["errors.gama_timeout"]);
    /// GAMA refused a command.
    GamaRefused = "gama_refused" => Keys(&["errors.gama_refused"]);
    /// What GAMA answered a tool's command, in its own words.
    GamaSaid = "gama_said" => Carried;
    /// The request's body is not what the endpoint takes.
    BadBody = "bad_body" => Keys(&["errors.bad_body"]);
    /// A model index that is not a number.
    BadIndex = "bad_index" => Keys(&["errors.bad_index"]);
    /// An empty GAML expression.
    EmptyExpression = "empty_expression" => Keys(&["errors.empty_expression"]);
    /// The admin token is missing or wrong.
    TokenRequired = "token_required" => Keys(&["errors.token_required"]);
    /// A request from another site's page.
    ForeignOrigin = "foreign_origin" => Keys(&["errors.foreign_origin"]);
    /// A request for a host name the relay does not answer to.
    HostNotAllowed = "host_not_allowed" => Keys(&["errors.host_not_allowed"]);
    /// No kept session with that id.
    UnknownSession = "unknown_session" => Keys(&["errors.unknown_session"]);
    /// The kept session is still being written.
    SessionInProgress = "session_in_progress" => Keys(&["errors.session_in_progress"]);
    /// A kept session that cannot be read.
    BrokenSession = "broken_session" => Keys(&["errors.broken_session"]);
    /// No such API endpoint.
    NoEndpoint = "no_endpoint" => Keys(&["errors.no_endpoint"]);
    /// No picture for that headset.
    NoImage = "no_image" => Keys(&["errors.no_image"]);
    /// A bug in the relay.
    Internal = "internal" => Keys(&["errors.internal"]);
    /// A tool's `exit`, not passed on to GAMA.
    ExitNotForwarded = "exit_not_forwarded" => Keys(&["errors.exit_not_forwarded"]);

    // Why GAMA cannot be reached (`state.gama.reason_code`).
    /// Nothing listens on GAMA's port.
    ConnectionRefused = "connection_refused" => Keys(&["gama.why.connection_refused"]);
    /// The connection attempt timed out.
    TimedOut = "timed_out" => Keys(&["gama.why.timed_out"]);
    /// The connection was reset.
    Reset = "reset" => Keys(&["gama.why.reset"]);
    /// GAMA's host name is not known.
    UnknownHost = "unknown_host" => Keys(&["gama.why.unknown_host"]);
    /// Something else than gama-server answers on its port.
    NotWebsocket = "not_websocket" => Keys(&["gama.why.not_websocket"]);
    /// GAMA stopped answering.
    NoAnswer = "no_answer" => Keys(&["gama.why.no_answer"]);
    /// GAMA stopped reading what the relay sends.
    StoppedReading = "stopped_reading" => Keys(&["gama.why.stopped_reading"]);
    /// Writing to GAMA failed.
    WriteFailed = "write_failed" => Keys(&["gama.why.write_failed"]);
    /// GAMA closed the connection (with its reason, when it gave one).
    ClosedByGama = "closed_by_gama" =>
        Keys(&["gama.why.closed_by_gama", "gama.why.closed_by_gama_why"]);
    /// GAMA sent a message over the size limit.
    MessageTooBig = "message_too_big" => Keys(&["gama.why.message_too_big"]);
    /// Another connection error.
    ConnectionError = "connection_error" => Keys(&["gama.why.connection_error"]);
    /// The connection dropped.
    Dropped = "dropped" => Keys(&["gama.why.dropped"]);
    /// The connection closed.
    Closed = "closed" => Keys(&["gama.why.closed"]);
    /// The relay is shutting down.
    ShuttingDown = "shutting_down" => Keys(&["gama.why.shutting_down"]);
    /// Still trying the first time.
    Trying = "trying" => Keys(&["gama.why.trying"]);
    /// Anything else, in the words of the error.
    Other = "other" => Carried;

    // What is wrong in a learning package.
    /// The packages' folder does not exist.
    FolderMissing = "folder_missing" => Keys(&["models.problem.folder_missing"]);
    /// A folder cannot be listed.
    CannotList = "cannot_list" => Keys(&["models.problem.cannot_list"]);
    /// A `settings.json` cannot be read.
    CannotRead = "cannot_read" => Keys(&["models.problem.cannot_read"]);
    /// A `settings.json` is not JSON.
    InvalidJson = "invalid_json" => Keys(&["models.problem.invalid_json"]);
    /// A `settings.json` is not an object.
    NotAnObject = "not_an_object" => Keys(&["models.problem.not_an_object"]);
    /// A catalog with no entries.
    CatalogWithoutEntries = "catalog_without_entries" =>
        Keys(&["models.problem.catalog_without_entries"]);
    /// A model without its model file or experiment.
    ModelIncomplete = "model_incomplete" => Keys(&["models.problem.model_incomplete"]);
    /// A number of players that is not a whole number.
    NotAWholeNumber = "not_a_whole_number" => Keys(&["models.problem.not_a_whole_number"]);
    /// Parameters that are not a list of name and value.
    BadParameters = "bad_parameters" => Keys(&["models.problem.bad_parameters"]);

    // What an operator did (the audit's `action`).
    /// Launched the experiment.
    Launch = "launch" => Keys(&["audit.action_launch"]);
    /// Launched below the model's minimum.
    LaunchAnyway = "launch_anyway" => Keys(&["audit.action_launch_anyway"]);
    /// Paused it.
    Pause = "pause" => Keys(&["audit.action_pause"]);
    /// Resumed it.
    Resume = "resume" => Keys(&["audit.action_resume"]);
    /// Stopped it.
    Stop = "stop" => Keys(&["audit.action_stop"]);
    /// Scanned the packages again.
    Rescan = "rescan" => Keys(&["audit.action_rescan"]);
    /// Removed a player.
    Remove = "remove" => Keys(&["audit.action_remove"]);
    /// Ran a GAML expression.
    Console = "console" => Keys(&["audit.action_console"]);
    /// Chose a model (by its name, or its index when it has none).
    Select = "select" => Keys(&["audit.action_select", "audit.action_select_index"]);
    /// Deleted a kept session.
    DeleteSession = "delete_session" => Keys(&["audit.action_delete_session"]);
    /// A tool's command, as the tool sent it.
    Tool = "tool" => Carried;
    /// A tool left; its experiments were closed.
    ToolLeft = "tool_left" => Keys(&["audit.action_tool_left"]);
    /// A tool left; the experiment it loaded on desktop GAMA stays.
    ToolLeftKept = "tool_left_kept" => Keys(&["audit.action_tool_left_kept"]);
    /// Put a headset's screen on the projector (or all of them).
    ScreenFocus = "screen_focus" =>
        Keys(&["audit.action_screen_focus", "audit.action_screen_focus_none"]);

    // Why a headset was turned away.
    /// Its id is a live player's, at another address.
    IdInUse = "id_in_use" => Keys(&["audit.refused.id_in_use"]);
    /// The same, and it waits for the id to be free.
    IdInUseWaiting = "id_in_use_waiting" => Keys(&["audit.refused.id_in_use_waiting"]);
    /// From outside `headsets.allowed_networks`.
    OutsideNetwork = "outside_network" => Keys(&["audit.refused.outside_network"]);

    // Headset screens: why none can be shown, and what a screen's stream does.
    /// Screens are turned off in the settings.
    MirrorOff = "mirror_off" => Keys(&["screens.unavailable.mirror_off"]);
    /// The ADB server does not answer.
    AdbUnreachable = "adb_unreachable" => Keys(&["screens.unavailable.adb_unreachable"]);
    /// scrcpy's server file is missing.
    ScrcpyMissing = "scrcpy_missing" => Keys(&["screens.unavailable.scrcpy_missing"]);
    /// scrcpy's server file has a version the relay does not know.
    ScrcpyVersion = "scrcpy_version" => Keys(&["screens.status.scrcpy_version"]);
    /// The headset is not ready for its screen.
    NoDevice = "no_device" => Keys(&["screens.status.no_device"]);
    /// The stream failed (the reason says why).
    Failed = "failed" => Keys(&["screens.status.failed"]);
    /// The stream is starting.
    Starting = "starting" => Keys(&["screens.status.starting"]);
    /// Nobody watches: the stream stopped.
    Idle = "idle" => Keys(&["screens.status.idle"]);
    /// The headset left.
    Left = "left" => Keys(&["screens.status.left"]);
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message in English words, with its code and the values in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Said {
    /// The relay's own words.
    pub text: String,
    /// Stable name of the message, for the page.
    pub code: Code,
    /// The values in it (player ids, paths, numbers, GAMA's words), as they are.
    pub params: Map<String, Value>,
}

impl Said {
    /// `text`, known to the page as `code` with `params` (pairs of name and value).
    pub fn new<const N: usize>(
        code: Code,
        params: [(&str, Value); N],
        text: impl Into<String>,
    ) -> Self {
        Said {
            text: text.into(),
            code,
            params: params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use serde_json::json;

    use super::*;

    #[test]
    fn carries_its_words_its_code_and_its_values() {
        let said = Said::new(
            Code::ConnectionRefused,
            [("port", json!(1000))],
            "connection refused: nothing listens on port 1000",
        );
        assert_eq!(said.to_string(), said.text);
        assert_eq!(
            serde_json::to_value(&said).unwrap(),
            json!({"text": said.text, "code": "connection_refused", "params": {"port": 1000}})
        );
    }

    /// The page's languages, and the keys of the families of sentences it words codes with that
    /// are its own (no code of the relay's behind them).
    const LANGUAGES: [&str; 6] = ["en", "fr", "vi", "th", "lo", "km"];
    const FAMILIES: [&str; 7] = [
        "errors.",
        "gama.why.",
        "models.problem.",
        "audit.action_",
        "audit.refused.",
        "screens.unavailable.",
        "screens.status.",
    ];
    const PAGE_OWN: [&str; 5] = [
        // The words of GAMA's experiment states, used inside other sentences.
        "errors.state.",
        // The page's own errors: the relay cannot be reached, or answered with no code.
        "errors.unreachable",
        "errors.http_status",
        // A screen's player, in the browser: connecting to the relay, a picture it cannot decode.
        "screens.status.connecting",
        "screens.status.decode_error",
    ];

    fn static_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("static")
    }

    fn language(code: &str) -> BTreeMap<String, Value> {
        let path = static_dir().join("i18n").join(format!("{code}.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The page's scripts, as one text.
    fn scripts() -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(static_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "js") {
                all.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        all
    }

    fn keys(code: Code) -> &'static [&'static str] {
        match code.words() {
            Keys(keys) => keys,
            Carried => &[],
        }
    }

    fn has_text(words: &BTreeMap<String, Value>, key: &str) -> bool {
        let text = |k: &str| {
            words
                .get(k)
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
        };
        text(key) || (text(&format!("{key}.one")) && text(&format!("{key}.other")))
    }

    #[test]
    fn codes_have_one_name_each() {
        let mut seen = BTreeSet::new();
        for code in Code::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "{name} twice in the list");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert_eq!(serde_json::to_value(code).unwrap(), json!(name));
        }
    }

    #[test]
    fn every_code_has_a_text_in_each_language() {
        for lang in LANGUAGES {
            let words = language(lang);
            for code in Code::ALL {
                for key in keys(*code) {
                    assert!(
                        has_text(&words, key),
                        "{lang}.json has no text for {key} ({code})"
                    );
                }
            }
        }
    }

    #[test]
    fn the_page_words_every_code_with_the_keys_of_the_list() {
        let scripts = scripts();
        // A code shown in the words it carries needs no sentence of the page's.
        for code in Code::ALL.iter().filter(|c| !keys(**c).is_empty()) {
            let name = code.as_str();
            assert!(
                scripts.contains(&format!("  {name}: ")) || scripts.contains(&format!("'{name}'")),
                "the page's scripts do not know the code {name}"
            );
            for key in keys(*code) {
                assert!(
                    scripts.contains(&format!("'{key}'")),
                    "no script uses {key} ({name})"
                );
            }
        }
    }

    #[test]
    fn every_sentence_of_the_families_is_a_codes_or_the_pages_own() {
        let listed: BTreeSet<&str> = Code::ALL.iter().flat_map(|c| keys(*c)).copied().collect();
        for key in language("en").keys() {
            let base = key
                .strip_suffix(".one")
                .or(key.strip_suffix(".other"))
                .unwrap_or(key);
            if FAMILIES.iter().any(|f| base.starts_with(f))
                && !PAGE_OWN.iter().any(|own| base.starts_with(own))
            {
                assert!(
                    listed.contains(base),
                    "{key} is the text of no code in the list"
                );
            }
        }
    }
}
