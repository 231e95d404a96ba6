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

/// The local wall-clock `HH:MM` of an RFC 3339 time (as [`local_hh_mm`] gave it then); empty if it
/// is not one.
pub fn local_hh_mm_of(rfc3339: &str) -> String {
    rfc3339
        .parse::<jiff::Timestamp>()
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%H:%M")
                .to_string()
        })
        .unwrap_or_default()
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
        assert_eq!(local_hh_mm_of(&now_rfc3339()).len(), 5);
        assert_eq!(local_hh_mm_of("not a time"), "");
    }
}
