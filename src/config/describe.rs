//! The settings as the relay shows them: one line per section in the start-up log (the admin token
//! only as set or not: the log may be sent to someone for help), and the whole effective
//! configuration as TOML in the layout of `config/default.toml`.

use super::settings::Config;

impl Config {
    /// The effective configuration as a TOML document, in the layout of `config/default.toml`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// A one-line-per-section description for the start-up log.
    pub fn describe(&self) -> Vec<String> {
        let Ok(serde_json::Value::Object(sections)) = serde_json::to_value(self) else {
            return Vec::new();
        };
        sections
            .into_iter()
            .map(|(section, fields)| {
                let body = match fields {
                    serde_json::Value::Object(fields) => fields
                        .into_iter()
                        .map(|(k, v)| format!("{k}={}", shown(&section, &k, &v)))
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => other.to_string(),
                };
                format!("[{section}] {body}")
            })
            .collect()
    }
}

/// A setting's value as the start-up log shows it: the admin token only as set or not (the log
/// may be sent to someone for help; the page's address with the token is logged on purpose, once),
/// text in quotes with Windows paths' backslashes as they are.
fn shown(section: &str, key: &str, value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) if section == "admin" && key == "token" => {
            if text.is_empty() {
                "(none set)"
            } else {
                "(set)"
            }
            .to_string()
        }
        serde_json::Value::String(text)
            if !text.contains('"') && !text.contains(char::is_control) =>
        {
            format!("\"{text}\"")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_start_up_log_shows_settings_plainly_and_never_the_token() {
        let mut config = Config::default();
        config.admin.token = "s3cret-token".into();
        config.sessions.folder_path = PathBuf::from(r"C:\Users\Lan\sessions");
        config.session.learning_package_path = PathBuf::from(r#"odd "name""#);
        let lines = config.describe().join("\n");
        assert!(!lines.contains("s3cret-token"), "{lines}");
        assert!(lines.contains("token=(set)"), "{lines}");
        assert!(
            lines.contains(r#"folder_path="C:\Users\Lan\sessions""#),
            "{lines}"
        );
        assert!(
            lines.contains(r#"learning_package_path="odd \"name\"""#),
            "{lines}"
        );
        assert!(lines.contains("port=1000 "), "{lines}");
        config.admin.token.clear();
        assert!(config.describe().join("\n").contains("token=(none set)"));
    }
}
