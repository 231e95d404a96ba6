//! Reading a command the way gama-server does: its fields as text or numbers, model paths,
//! parameters, `ask` arguments and GAML `do` statements, and the reply a command gets ([`Resp`]).
//!
//! GAMA's leniencies and error texts are the protocol the relay meets; they live here, apart from
//! what each command does with them.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::wire::to_raw;

/// A command's outcome: message type and content.
pub(super) struct Resp {
    pub(super) ty: &'static str,
    pub(super) content: Box<RawValue>,
}

impl Resp {
    pub(super) fn ok<T: Serialize + ?Sized>(content: &T) -> Resp {
        Resp {
            ty: "CommandExecutedSuccessfully",
            content: to_raw(content),
        }
    }

    pub(super) fn unable(message: &str) -> Resp {
        Resp {
            ty: "UnableToExecuteRequest",
            content: to_raw(message),
        }
    }

    pub(super) fn malformed(message: &str) -> Resp {
        Resp {
            ty: "MalformedRequest",
            content: to_raw(message),
        }
    }

    pub(super) fn server_error(message: &str) -> Resp {
        Resp {
            ty: "GamaServerError",
            content: to_raw(message),
        }
    }
}

/// A field as text the way GAMA reads it (`"" + map.get(key)`): strings as is, other scalars as
/// their JSON text; `None` when absent or null.
pub(super) fn field_text(cmd: &Value, key: &str) -> Option<String> {
    match cmd.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `exp_id` / `socket_id` style fields: absent, null or empty → `None`.
pub(super) fn non_empty_field(cmd: &Value, key: &str) -> Option<String> {
    field_text(cmd, key).filter(|s| !s.trim().is_empty())
}

/// `nb_step`: int or numeric string, default 1 (`Integer.parseInt("" + v)`).
pub(super) fn nb_step(cmd: &Value) -> Result<i64, Resp> {
    match field_text(cmd, "nb_step") {
        None => Ok(1),
        Some(s) if s.trim().is_empty() => Ok(1),
        Some(s) => s.trim().parse::<i64>().map_err(|_| {
            Resp::server_error(&format!(
                "java.lang.NumberFormatException: For input string: \"{s}\""
            ))
        }),
    }
}

/// Checks a model path the way `load`/`describe` do (the fake cannot look at the GAMA host's
/// disk: any absolute `.gaml` path "exists").
pub(super) fn check_model(path: &str) -> Result<(), Resp> {
    if !Path::new(path).is_absolute() {
        return Err(Resp::unable(&format!("'{path}' does not exist")));
    }
    if !path.to_ascii_lowercase().ends_with(".gaml") {
        return Err(Resp::unable(&format!("'{path}' is not a gaml file")));
    }
    Ok(())
}

/// `CommandExecutor.checkLoadParameters`: every parameter needs `name` and `value`.
pub(super) fn check_parameters(cmd: &Value) -> Result<(), Resp> {
    match cmd.get("parameters") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(params)) => {
            for p in params {
                let ok = p.get("name").is_some() && p.get("value").is_some();
                if !ok {
                    return Err(Resp::malformed(&format!(
                        "Each parameter must have a 'name' and a 'value': {p}"
                    )));
                }
            }
            Ok(())
        }
        Some(other) => Err(Resp::malformed(&format!(
            "'parameters' must be a list: {other}"
        ))),
    }
}

/// Parses a GAML string literal at the start of `s` (`"…"` or `'…'`, escapes `\"`, `\'`, `\\`,
/// `\n`, `\t`, `\r`). Returns the value and the rest of the input.
fn parse_gaml_string(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    let (_, quote) = chars.next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, e) = chars.next()?;
                value.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
            }
            c if c == quote => return Some((value, &s[i + c.len_utf8()..])),
            c => value.push(c),
        }
    }
    None
}

/// A parsed `do action(args);` statement.
pub(super) struct DoStatement {
    pub(super) action: String,
    /// The single string-literal argument, when the arguments are exactly one string literal.
    pub(super) string_arg: Option<String>,
}

/// Parses `do <action>[(<args>)][;]`; `Err` is a GAML syntax error text.
pub(super) fn parse_do(expr: &str) -> Result<Option<DoStatement>, String> {
    let Some(rest) = expr.strip_prefix("do") else {
        return Ok(None);
    };
    if !rest.starts_with(char::is_whitespace) {
        return Ok(None);
    }
    let rest = rest.trim_start();
    let name_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if name_len == 0 {
        return Err(format!("syntax error in '{expr}'"));
    }
    let action = rest[..name_len].to_owned();
    let mut rest = rest[name_len..].trim_start();
    let mut string_arg = None;
    if let Some(args) = rest.strip_prefix('(') {
        let args = args.trim_start();
        if let Some((value, after)) = parse_gaml_string(args) {
            let after = after.trim_start();
            if let Some(after) = after.strip_prefix(')') {
                string_arg = Some(value);
                rest = after.trim_start();
            } else {
                // More arguments, or garbage after the literal: find the closing parenthesis of a
                // well-formed call, else it is a syntax error (e.g. an unescaped quote in an id).
                let Some(close) = after.rfind(')') else {
                    return Err(format!("syntax error in '{expr}'"));
                };
                if !after.starts_with(',') {
                    return Err(format!("syntax error in '{expr}'"));
                }
                rest = after[close + 1..].trim_start();
            }
        } else {
            let Some(close) = args.rfind(')') else {
                return Err(format!("syntax error in '{expr}'"));
            };
            if args[..close].contains(['"', '\'']) {
                return Err(format!("syntax error in '{expr}'"));
            }
            rest = args[close + 1..].trim_start();
        }
    }
    let rest = rest.strip_prefix(';').unwrap_or(rest).trim();
    if !rest.is_empty() {
        return Err(format!("syntax error in '{expr}'"));
    }
    Ok(Some(DoStatement { action, string_arg }))
}

/// The arguments of an `ask`: a JSON string holding an object (what GAMA expects), or an object
/// (what gama-client sends).
pub(super) fn ask_args(cmd: &Value) -> Result<serde_json::Map<String, Value>, Resp> {
    match cmd.get("args") {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(Resp::server_error(&format!(
                "java.lang.ClassCastException: the 'args' of ask must be a JSON object, got {other}"
            ))),
            Err(e) => Err(Resp::server_error(&format!(
                "gama.core.util.file.json.ParseException: cannot parse the 'args' of ask: {e}"
            ))),
        },
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(other) => Err(Resp::server_error(&format!(
            "java.lang.ClassCastException: the 'args' of ask must be a JSON string, got {other}"
        ))),
        None => Err(Resp::server_error(
            "java.lang.NullPointerException: the 'args' of ask are missing",
        )),
    }
}

/// An argument value as GAMA casts it to a string.
pub(super) fn arg_text(args: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match args.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// An argument value as GAMA casts it to an int (unparsable → 0).
pub(super) fn arg_int(args: &serde_json::Map<String, Value>, key: &str) -> i64 {
    match args.get(key) {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok().map(|f| f as i64))
            .unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn do_statements_parse_like_gaml() {
        let s = parse_do(r#"do create_player("Player_101");"#)
            .expect("valid")
            .expect("a do");
        assert_eq!(s.action, "create_player");
        assert_eq!(s.string_arg.as_deref(), Some("Player_101"));
        let s = parse_do(r#"do create_player("a\"b\\c")"#)
            .expect("valid")
            .expect("a do");
        assert_eq!(s.string_arg.as_deref(), Some("a\"b\\c"));
        let s = parse_do("do hello;").expect("valid").expect("a do");
        assert_eq!((s.action.as_str(), s.string_arg), ("hello", None));
        let s = parse_do(r#"do f("x", 3);"#).expect("valid").expect("a do");
        assert_eq!((s.action.as_str(), s.string_arg), ("f", None));
        assert!(parse_do(r#"do create_player("a"b");"#).is_err());
        assert!(parse_do("cycle").expect("valid").is_none());
        assert!(parse_do("done").expect("valid").is_none());
    }
}
