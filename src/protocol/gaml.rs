//! The few GAML snippets the relay writes, with player ids safely quoted.
//!
//! Player ids come from the network. The reference middleware pasted them into GAML unescaped
//! (protocol.md §11.18), so an id containing a quote could run arbitrary GAML in the simulation. Here an
//! id only ever appears inside a string literal produced by [`string_literal`].

/// `text` as a GAML string literal: double quotes, with backslash, quote and control characters
/// escaped so the literal always ends where it should.
pub fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // No other control character has a GAML escape; none belongs in a player id.
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The experiment action call that adds a player to the simulation.
pub fn create_player(id: &str) -> String {
    format!("do create_player({});", string_literal(id))
}

/// The experiment action call that removes a player from the simulation.
pub fn remove_player(id: &str) -> String {
    format!("do remove_player({});", string_literal(id))
}

/// Replaces every `$id` in a headset's expression with the player's id as a string literal (the
/// reference replaced only the first one, protocol.md §11.19).
pub fn substitute_id(expr: &str, id: &str) -> String {
    if expr.contains("$id") {
        expr.replace("$id", &string_literal(id))
    } else {
        expr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_quoted() {
        assert_eq!(
            create_player("Player_101"),
            r#"do create_player("Player_101");"#
        );
        assert_eq!(
            remove_player("Player_101"),
            r#"do remove_player("Player_101");"#
        );
    }

    #[test]
    fn hostile_ids_cannot_leave_the_literal() {
        let id = "x\"); do die; create_player(\"y";
        let expr = create_player(id);
        assert_eq!(
            expr,
            r#"do create_player("x\"); do die; create_player(\"y");"#
        );
        assert_eq!(string_literal("a\\\"b"), r#""a\\\"b""#);
        assert_eq!(string_literal("a\nb\r\tc\u{0}"), r#""a\nb\r\tc""#);
        // A trailing backslash must not escape the closing quote.
        assert_eq!(string_literal("end\\"), r#""end\\""#);
    }

    #[test]
    fn every_id_placeholder_is_replaced() {
        assert_eq!(
            substitute_id("do hello($id); do bye($id);", "P\"1"),
            r#"do hello("P\"1"); do bye("P\"1");"#
        );
        assert_eq!(substitute_id("cycle", "P1"), "cycle");
    }
}
