//! Times as people and the admin API read them: RFC 3339 in UTC for the API and the kept
//! sessions, and the local `HH:MM` the Unity client shows (`json_state.date_connection`).

use std::time::Duration;

/// Current time as an RFC 3339 string in UTC, for the admin API.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

/// The time `after` from now, as an RFC 3339 string in UTC.
pub fn rfc3339_in(after: Duration) -> String {
    let now = jiff::Timestamp::now();
    jiff::SignedDuration::try_from(after)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(now)
        .to_string()
}

/// Local wall-clock `HH:MM`, the format of `json_state.date_connection`.
pub fn local_hh_mm() -> String {
    jiff::Zoned::now().strftime("%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_formats() {
        let hm = local_hh_mm();
        assert_eq!(hm.len(), 5, "{hm}");
        assert_eq!(&hm[2..3], ":");
        assert!(now_rfc3339().ends_with('Z'));
    }
}
