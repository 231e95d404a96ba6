//! Times as people and the admin API read them: RFC 3339 in UTC for the API and the kept
//! sessions, and the local `HH:MM` the Unity client shows (`json_state.date_connection`).

use std::time::Duration;

/// Current time as an RFC 3339 string in UTC, for the admin API.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

/// A time as an RFC 3339 string in UTC, as [`now_rfc3339`] gives the current one.
pub fn rfc3339(at: jiff::Timestamp) -> String {
    at.to_string()
}

/// The time `after` after `at`, as an RFC 3339 string in UTC.
pub fn rfc3339_after(at: jiff::Timestamp, after: Duration) -> String {
    jiff::SignedDuration::try_from(after)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(at)
        .to_string()
}

/// Local wall-clock `HH:MM`, the format of `json_state.date_connection`.
pub fn local_hh_mm() -> String {
    hh_mm(&jiff::Zoned::now())
}

/// The wall-clock `HH:MM` of a time in its own zone (the local one when it comes from
/// `Zoned::now()`), as [`local_hh_mm`] gives the current one.
pub fn hh_mm(at: &jiff::Zoned) -> String {
    at.strftime("%H:%M").to_string()
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
        let at: jiff::Timestamp = "2026-12-07T14:05:00Z".parse().unwrap();
        assert_eq!(rfc3339(at), "2026-12-07T14:05:00Z");
        assert_eq!(
            rfc3339_after(at, Duration::from_secs(90)),
            "2026-12-07T14:06:30Z"
        );
        let paris = at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(1)));
        assert_eq!(hh_mm(&paris), "15:05");
    }
}
