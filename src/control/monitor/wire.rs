//! The webplatform's monitor messages, as its admin UI and the Unity plugin's editor tool read
//! and write them (protocol.md §8): what a monitor client asks, and the JSON the relay answers.
//!
//! Everything sent is ASCII: the editor tool decodes UTF-8 piece by piece as it arrives, so a
//! non-ASCII character cut between two pieces would be garbled (a teacher's `C:\Users\Frédéric\…`
//! path); JSON's `\uXXXX` escapes say the same thing in ASCII.

use serde::Serialize;
use serde_json::Value;

use crate::admin::view::StateView;
use crate::control::packages::{Catalog, Entry, Model};

/// What a monitor client asks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// The catalog's top-level entries.
    Catalog,
    /// A model's whole settings (and select it, as the webplatform did).
    ModelByIndex(Option<i64>),
    /// Select the model a settings object names by its `model_index`.
    Select(Option<i64>),
    /// Load the selected model's experiment.
    Launch,
    /// Pause the running experiment.
    Pause,
    /// Resume the paused experiment.
    Resume,
    /// Stop the experiment.
    Stop,
    /// Add a player to the game (the admin UI's).
    AddPlayer(Option<String>),
    /// Remove a player from the game (the admin UI's).
    RemovePlayer(Option<String>),
    /// The webplatform's headset video: not part of the relay.
    ScreenControl,
    /// The admin UI asking the webplatform to try GAMA again: the relay always does.
    TryConnection,
    /// Anything else.
    Unknown(String),
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum BadRequest {
    /// Not JSON.
    #[error("not JSON ({0})")]
    NotJson(String),
    /// JSON, but not an object with a `type`.
    #[error("not a message: a JSON object with a \"type\" is expected")]
    NotAMessage,
}

/// Reads one message of a monitor client.
pub(crate) fn parse(text: &str) -> Result<Request, BadRequest> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| BadRequest::NotJson(e.to_string()))?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or(BadRequest::NotAMessage)?;
    let index = |v: Option<&Value>| v.and_then(Value::as_i64);
    let id = || value.get("id").and_then(Value::as_str).map(str::to_string);
    Ok(match kind {
        "get_simulation_informations" => Request::Catalog,
        "get_simulation_by_index" => Request::ModelByIndex(index(value.get("simulationIndex"))),
        "send_simulation" => Request::Select(index(
            value.get("simulation").and_then(|s| s.get("model_index")),
        )),
        "launch_experiment" => Request::Launch,
        "pause_experiment" => Request::Pause,
        "resume_experiment" => Request::Resume,
        "stop_experiment" => Request::Stop,
        "add_player_headset" => Request::AddPlayer(id()),
        "remove_player_headset" => Request::RemovePlayer(id()),
        "screen_control" => Request::ScreenControl,
        "try_connection" => Request::TryConnection,
        other => Request::Unknown(other.to_string()),
    })
}

/// `json_state`'s `gama` (the webplatform's `GamaState`, its keys in their order).
#[derive(Serialize)]
struct Gama<'a> {
    connected: bool,
    experiment_state: &'a str,
    loading: bool,
    content_error: &'a str,
    experiment_id: &'a str,
    experiment_name: &'a str,
}

/// One player of `json_state`'s `player` map (the Unity client's record).
#[derive(Serialize)]
struct Player<'a> {
    id: &'a str,
    ping_interval: String,
    is_alive: bool,
    connected: bool,
    in_game: bool,
    date_connection: String,
}

/// `{"type":"json_state","gama":{…},"player":{<id>:{…}}}` from the relay's state.
pub(crate) fn json_state(state: &StateView) -> String {
    let g = &state.gama;
    // Words GAMA uses only: the editor tool takes any other state for a launched experiment.
    let experiment_state = match g.experiment_state.as_str() {
        s @ ("NONE" | "NOTREADY" | "PAUSED" | "RUNNING" | "FINISHED") => s,
        _ => "NONE",
    };
    let gama = Gama {
        connected: g.connection == crate::gama::LinkState::Connected,
        experiment_state,
        loading: g.operation.is_some(),
        content_error: g.last_error.as_ref().map_or("", |e| e.message.as_str()),
        experiment_id: g.experiment_id.as_deref().unwrap_or(""),
        experiment_name: g.experiment_name.as_deref().unwrap_or(""),
    };
    let mut out = String::with_capacity(256 + 160 * state.players.len());
    out.push_str(r#"{"type":"json_state","gama":"#);
    push_json(&mut out, &gama);
    out.push_str(r#","player":{"#);
    for (i, p) in state.players.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let p = &p.player;
        push_json(&mut out, &p.id);
        out.push(':');
        push_json(
            &mut out,
            &Player {
                id: &p.id,
                ping_interval: p.heartbeat_ms.to_string(),
                is_alive: p.connected,
                connected: p.connected,
                in_game: p.in_game,
                date_connection: crate::support::clock::local_hh_mm_of(&p.connected_since),
            },
        );
    }
    out.push_str("}}");
    ascii(out)
}

/// The catalog's top-level entries, as the webplatform answered `get_simulation_informations`: a
/// JSON *string* holding the list (both known clients parse it once more).
pub(crate) fn catalog_list(catalog: &Catalog) -> String {
    let list: Vec<Value> = catalog
        .entries
        .iter()
        .map(|e| light_entry(e, catalog))
        .collect();
    let text = Value::Array(list).to_string();
    ascii(Value::String(text).to_string())
}

/// A catalog entry as the list shows it: a model by its index (with its experiment and model file,
/// which the editor tool matches on), a catalog with its entries.
fn light_entry(entry: &Entry, catalog: &Catalog) -> Value {
    match entry {
        Entry::Model { name, model_index } => {
            let mut object = serde_json::Map::new();
            object.insert("type".into(), "json_settings".into());
            object.insert("name".into(), name.as_str().into());
            if let Some(model) = catalog.models.get(*model_index) {
                if let Some(splash) = model_field(model, "splashscreen") {
                    object.insert("splashscreen".into(), splash);
                }
                object.insert(
                    "model_file_path".into(),
                    model.model_file_path.to_string_lossy().into(),
                );
                object.insert(
                    "experiment_name".into(),
                    model.experiment_name.as_str().into(),
                );
            }
            object.insert("model_index".into(), (*model_index).into());
            Value::Object(object)
        }
        Entry::Catalog { name, entries, .. } => serde_json::json!({
            "type": "catalog",
            "name": name,
            "entries": entries.iter().map(|e| light_entry(e, catalog)).collect::<Vec<_>>(),
        }),
    }
}

/// A field of a model's entry in its `settings.json`, as written there.
fn model_field(model: &Model, key: &str) -> Option<Value> {
    serde_json::from_str::<serde_json::Map<String, Value>>(model.settings.get())
        .ok()?
        .remove(key)
}

/// `{"type":"get_simulation_by_index","simulation":{…}}`: a model's whole settings.
pub(crate) fn model_by_index(model: &Model) -> String {
    ascii(format!(
        r#"{{"type":"get_simulation_by_index","simulation":{}}}"#,
        model.settings.get()
    ))
}

/// The selected model's settings, as sent to a monitor client when it connects.
pub(crate) fn json_settings(model: &Model) -> String {
    ascii(model.settings.get().to_string())
}

/// `{"type":"screen_control",…}`: the webplatform's headset video is not part of the relay.
pub(crate) fn screen_control_unsupported() -> String {
    r#"{"type":"error","message":"screen_control: headset video streaming is not part of gama-vr-relay"}"#
        .to_string()
}

fn push_json<T: Serialize + ?Sized>(out: &mut String, value: &T) {
    // Serialising these plain structs and strings cannot fail.
    if let Ok(text) = serde_json::to_string(value) {
        out.push_str(&text);
    }
}

/// `text` (JSON) with every non-ASCII character as a `\uXXXX` escape: the same JSON, in ASCII.
pub(crate) fn ascii(text: String) -> String {
    if text.is_ascii() {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut units = [0u16; 2];
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_liberally() {
        assert_eq!(
            parse(r#"{"type":"get_simulation_by_index","simulationIndex":2}"#),
            Ok(Request::ModelByIndex(Some(2)))
        );
        assert_eq!(
            parse(
                r#"{"type":"send_simulation","simulation":{"name":"x","model_index":1,"extra":[1]}}"#
            ),
            Ok(Request::Select(Some(1)))
        );
        assert_eq!(
            parse(r#"{"type":"send_simulation"}"#),
            Ok(Request::Select(None))
        );
        assert_eq!(
            parse(r#"{"type":"remove_player_headset","id":"Player_101"}"#),
            Ok(Request::RemovePlayer(Some("Player_101".into())))
        );
        assert_eq!(
            parse(r#"{"type":"nope"}"#),
            Ok(Request::Unknown("nope".into()))
        );
        assert_eq!(parse("null"), Err(BadRequest::NotAMessage));
        assert_eq!(parse("[1]"), Err(BadRequest::NotAMessage));
        assert!(matches!(parse("{oops"), Err(BadRequest::NotJson(_))));
    }

    #[test]
    fn what_is_sent_is_ascii() {
        assert_eq!(
            ascii(r#"{"p":"C:\\Users\\Frédéric\\😀"}"#.to_string()),
            r#"{"p":"C:\\Users\\Fr\u00e9d\u00e9ric\\\ud83d\ude00"}"#
        );
        let v: Value = serde_json::from_str(&ascii(r#"{"p":"é😀"}"#.to_string())).unwrap();
        assert_eq!(v["p"], "é😀");
    }
}
