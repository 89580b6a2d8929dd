//! RFC 3339 timestamps, as JSON APIs write them (`2024-05-06T07:08:09.123Z`,
//! `2024-02-29T12:00:00+01:00`), through the `time` crate. HTTP dates are in [`headers`](crate::headers).

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses an RFC 3339 timestamp (an offset is applied); `None` if it is not one or lies
/// before 1970.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    let t: SystemTime = t.into();
    (t >= SystemTime::UNIX_EPOCH).then_some(t)
}

/// Formats a time as RFC 3339 in UTC to the second (`2026-01-01T00:00:00Z`); a time before 1970
/// is written as the epoch.
pub fn rfc3339(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t.max(SystemTime::UNIX_EPOCH));
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn parses_and_formats() {
        let t = parse_rfc3339("1970-01-02T00:00:01.5Z").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::new(86401, 500_000_000));
        let t = parse_rfc3339("2024-02-29T12:00:00+01:00").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_709_204_400
        );
        assert_eq!(rfc3339(t), "2024-02-29T11:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::new(5, 7)),
            "1970-01-01T00:00:05Z"
        );
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "yesterday",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
