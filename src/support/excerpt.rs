//! Excerpts of text that may be long (a frame GAMA or a headset sent, a close reason), cut to a
//! size before they go into a log line, an error reply or a kept session.

/// Cuts text to at most `max` bytes on a character boundary, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_a_character_boundary_and_marks_the_cut() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdef", 3), "abc…");
        // "é" is two bytes: a cut inside it moves back before it.
        assert_eq!(truncate("aé", 2), "a…");
        assert_eq!(truncate("ກຳລັງຫຼິ້ນ", 4), "ກ…");
    }
}
