//! What the relay tells people outside an API error: why GAMA is unreachable, what is wrong in a
//! learning package, why a headset was turned away, what an operator did and why it was not done.
//!
//! The log and scripts read the relay's own English words; the admin page speaks its reader's
//! language, so each message also carries a stable `code` and the values in it (`params`), as API
//! errors do (README, "Admin API"). The page words a code it knows and falls back to the English
//! text for one it does not.

use serde::Serialize;
use serde_json::{Map, Value};

/// A message in English words, with its code and the values in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Said {
    /// The relay's own words.
    pub text: String,
    /// Stable name of the message, for the page.
    pub code: &'static str,
    /// The values in it (player ids, paths, numbers, GAMA's words), as they are.
    pub params: Map<String, Value>,
}

impl Said {
    /// `text`, known to the page as `code` with `params` (pairs of name and value).
    pub fn new<const N: usize>(
        code: &'static str,
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
    use serde_json::json;

    use super::*;

    #[test]
    fn carries_its_words_its_code_and_its_values() {
        let said = Said::new(
            "connection_refused",
            [("port", json!(1000))],
            "connection refused: nothing listens on port 1000",
        );
        assert_eq!(said.to_string(), said.text);
        assert_eq!(
            serde_json::to_value(&said).unwrap(),
            json!({"text": said.text, "code": "connection_refused", "params": {"port": 1000}})
        );
    }
}
