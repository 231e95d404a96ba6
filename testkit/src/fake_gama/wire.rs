//! What the fake writes on the wire: gama-server's messages and the linker's payloads.
//!
//! Key order matters on this link (protocol.md §2.1): every message whose key order is observable
//! is a `#[derive(Serialize)]` struct (fields serialize in declaration order), never a
//! `serde_json::Map`. One file holds every shape so that a newcomer checking the fake against the
//! protocol reads them side by side.

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::ContentShape;

/// `CommandResponse.serializeToJson`: `type, content, command` (protocol.md §3.1).
#[derive(Serialize)]
pub(super) struct CommandReply<'a> {
    #[serde(rename = "type")]
    pub(super) ty: &'a str,
    pub(super) content: &'a RawValue,
    pub(super) command: &'a RawValue,
}

/// A `MalformedRequest` for unreadable JSON: no `command` (protocol.md §3.1).
#[derive(Serialize)]
pub(super) struct UnparsableReply<'a> {
    #[serde(rename = "type")]
    pub(super) ty: &'a str,
    pub(super) content: &'a str,
}

/// `GamaServerMessage.serializeToJson`: `type, content, exp_id`, never `command`.
#[derive(Serialize)]
pub(super) struct Unsolicited<'a, C: Serialize> {
    #[serde(rename = "type")]
    pub(super) ty: &'a str,
    pub(super) content: C,
    pub(super) exp_id: &'a str,
}

/// The first frame of every connection (`GamaWebSocketServer.onOpen`).
#[derive(Serialize)]
pub(super) struct ConnectionSuccessful<'a> {
    #[serde(rename = "type")]
    pub(super) ty: &'a str,
    pub(super) content: &'a str,
}

/// Content of a console `write` output (`GamaServerConsoleListener.informConsole`).
#[derive(Serialize)]
pub(super) struct ConsoleContent<'a> {
    pub(super) message: &'a str,
    pub(super) color: GamaColor,
}

/// A GAMA colour as serialized by gama-server.
#[derive(Serialize)]
pub(super) struct GamaColor {
    pub(super) gaml_type: &'static str,
    pub(super) red: u8,
    pub(super) green: u8,
    pub(super) blue: u8,
    pub(super) alpha: u8,
}

/// Content of a `describe` reply: `{experiments, species, name, path}`.
#[derive(Serialize)]
pub(super) struct DescribeContent {
    pub(super) experiments: Vec<DescribeExperiment>,
    pub(super) species: Vec<DescribeSpecies>,
    pub(super) name: String,
    pub(super) path: String,
}

#[derive(Serialize)]
pub(super) struct DescribeExperiment {
    pub(super) name: String,
    pub(super) parameters: Vec<Value>,
}

#[derive(Serialize)]
pub(super) struct DescribeSpecies {
    pub(super) name: &'static str,
}

/// The linker's batch: `{"contents":[..],"type":"output"}` (protocol.md §4.4).
#[derive(Serialize)]
pub(super) struct LinkerBatch {
    pub(super) contents: Vec<LinkerElement>,
    #[serde(rename = "type")]
    pub(super) ty: &'static str,
}

/// One element of a linker batch: `{"id":[players],"contents":{payload}}`.
#[derive(Serialize)]
pub(super) struct LinkerElement {
    pub(super) id: Vec<String>,
    pub(super) contents: Box<RawValue>,
}

/// `send_parameters` payload (protocol.md §6.3). `minPlayerUpdateDuration` is a Java double.
#[derive(Serialize)]
pub(super) struct ParametersPayload {
    pub(super) precision: i64,
    pub(super) world: [i64; 2],
    #[serde(rename = "minPlayerUpdateDuration")]
    pub(super) min_player_update_duration: f64,
}

/// `enable_player_movement` payload.
#[derive(Serialize)]
pub(super) struct EnableMovePayload {
    #[serde(rename = "enableMove")]
    pub(super) enable_move: bool,
}

/// `end_of_game` payload.
#[derive(Serialize)]
pub(super) struct EndOfGamePayload<'a> {
    #[serde(rename = "endOfGame")]
    pub(super) end_of_game: &'a str,
}

/// `send_unity_propetries` payload.
#[derive(Serialize)]
pub(super) struct PropertiesPayload {
    pub(super) properties: (PrefabProperty, GeometryProperty),
}

/// A property whose agents are drawn with a prefab: `id, tag`, aspect keys, interaction keys,
/// `toFollow` (protocol.md §6.3).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PrefabProperty {
    pub(super) id: &'static str,
    pub(super) tag: &'static str,
    pub(super) has_prefab: bool,
    pub(super) prefab: &'static str,
    pub(super) size: i64,
    pub(super) rotation_coeff: i64,
    pub(super) rotation_offset: i64,
    pub(super) y_offset: i64,
    pub(super) constraints: Option<[bool; 6]>,
    pub(super) is_interactable: bool,
    pub(super) is_grabable: bool,
    pub(super) has_collider: bool,
    pub(super) to_follow: bool,
}

/// A property whose agents are drawn as geometries, without colour (`-1` channels and the
/// double `alpha` `0.0`, protocol.md §6.3).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GeometryProperty {
    pub(super) id: &'static str,
    pub(super) tag: &'static str,
    pub(super) has_prefab: bool,
    pub(super) height: i64,
    #[serde(rename = "is3D")]
    pub(super) is_3d: bool,
    pub(super) red: i64,
    pub(super) green: i64,
    pub(super) blue: i64,
    pub(super) alpha: f64,
    pub(super) material: Option<&'static str>,
    pub(super) constraints: Option<[bool; 6]>,
    pub(super) is_interactable: bool,
    pub(super) is_grabable: bool,
    pub(super) has_collider: bool,
    pub(super) to_follow: bool,
}

/// `send_geometries` payload (protocol.md §6.3), keys in emission order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WorldPayload {
    pub(super) points_loc: Vec<Coords>,
    pub(super) is_init: bool,
    pub(super) offset_y_geom: Vec<i64>,
    pub(super) names: Vec<String>,
    pub(super) keep_names: Vec<&'static str>,
    #[serde(rename = "propertyID")]
    pub(super) property_id: Vec<&'static str>,
    pub(super) points_geom: Vec<Coords>,
    pub(super) attributes: Vec<EmptyObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) position: Option<[i64; 3]>,
}

/// `{"c":[..]}` coordinate lists of `pointsLoc` / `pointsGeom`.
#[derive(Serialize)]
pub(super) struct Coords {
    pub(super) c: Vec<i64>,
}

/// `{}` (an agent without attributes).
#[derive(Serialize)]
pub(super) struct EmptyObject {}

/// Serializes a value to an owned raw JSON value. Serializing the plain structs and strings of
/// this module cannot fail; should it ever, `null` is used and the error logged.
pub(super) fn to_raw<T: Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|e| {
        tracing::error!("fake-gama: cannot serialize a value: {e}");
        RawValue::NULL.to_owned()
    })
}

/// Serializes a message to JSON text (see [`to_raw`] for the error policy).
pub(super) fn to_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        tracing::error!("fake-gama: cannot serialize a message: {e}");
        "null".to_owned()
    })
}

/// The `SimulationStatus` frame of `state` for experiment `exp_id`.
pub(super) fn status_frame(state: &str, exp_id: &str) -> String {
    to_text(&Unsolicited {
        ty: "SimulationStatus",
        content: state,
        exp_id,
    })
}

/// The `SimulationOutput` frame of a linker JSON text, shaped per `shape` (protocol.md §4.4).
pub(super) fn linker_output_frame(shape: ContentShape, linker_json: &str, exp_id: &str) -> String {
    if shape == ContentShape::Object {
        match serde_json::from_str::<&RawValue>(linker_json) {
            Ok(raw) => {
                return to_text(&Unsolicited {
                    ty: "SimulationOutput",
                    content: raw,
                    exp_id,
                });
            }
            Err(e) => {
                tracing::warn!("fake-gama: linker output is not JSON ({e}), sent as a string")
            }
        }
    }
    to_text(&Unsolicited {
        ty: "SimulationOutput",
        content: linker_json,
        exp_id,
    })
}

/// Decimal socket id derived from a connection number: distinct per connection and shaped like
/// Java's `hashCode()` output (a positive 31-bit integer).
pub(super) fn socket_id_for(conn: u64) -> String {
    // An odd multiplier is a bijection modulo 2^31.
    (conn.wrapping_mul(2_654_435_761) & 0x7fff_ffff).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_gama::PRECISION;
    use crate::fake_gama::Scene;
    use crate::fake_gama::scene::properties;

    #[test]
    fn doubles_keep_their_fraction() {
        let text = to_text(&ParametersPayload {
            precision: PRECISION,
            world: [1_000_000, 800_000],
            min_player_update_duration: 0.01 * PRECISION as f64,
        });
        assert_eq!(
            text,
            r#"{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100.0}"#
        );
        assert!(to_text(&properties(Scene::Minimal)).contains(r#""alpha":0.0,"#));
    }

    #[test]
    fn socket_ids_are_distinct_decimal() {
        let ids: std::collections::HashSet<String> = (1..1000).map(socket_id_for).collect();
        assert_eq!(ids.len(), 999);
        assert!(ids.iter().all(|s| s.parse::<u32>().is_ok()));
    }
}
