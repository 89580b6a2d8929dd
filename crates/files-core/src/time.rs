//! Calendar dates and the two timestamp formats the adapters speak, written once: HTTP dates
//! (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) and RFC 3339
//! (`2024-05-06T07:08:09.123Z`).
//!
//! Days count from 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's
//! `days_from_civil` / `civil_from_days`). Nothing here panics or overflows, whatever the input:
//! the parsers read text a server sent, and a far year is `None`, not an overflow.
//!
//! The parsers are as lenient as the adapters' own parsers always were (a server's slightly
//! off date is still a date); where adapters differ, [`HttpDateRules`] and [`Rfc3339Rules`] say
//! how. Dates before 1970 do not parse (`None`): no store sends one.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use files_core::time;
//!
//! let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
//! assert_eq!(time::http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
//! assert_eq!(time::rfc3339(t), "1994-11-06T08:49:37Z");
//! assert_eq!(time::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
//! assert_eq!(time::parse_rfc3339("1994-11-06T09:49:37+01:00"), Some(t));
//! assert_eq!(time::civil_from_days(time::days_from_civil(2000, 2, 29)), (2000, 2, 29));
//! ```

use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (negative before 1970).
///
/// The fields are not checked: a day past the month's end counts on into the next month
/// (2023-02-29 is 2023-03-01) and day 0 is the previous month's last; a month outside 1-12
/// gives a day that is unspecified but never a panic. A result beyond `i64` (years past about
/// ±2.5·10¹⁶) saturates.
///
/// ```
/// assert_eq!(files_core::time::days_from_civil(1970, 1, 1), 0);
/// assert_eq!(files_core::time::days_from_civil(2000, 3, 1), 11_017);
/// ```
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let days = days_wide(i128::from(y), i128::from(m), i128::from(d));
    i64::try_from(days).unwrap_or(if days < 0 { i64::MIN } else { i64::MAX })
}

/// Hinnant's `days_from_civil` in `i128`, where no `i64` input overflows. Months outside 1-12
/// (the lenient RFC 3339 fields) take the arithmetic the GCS parser always gave them.
fn days_wide(y: i128, m: i128, d: i128) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month 1-12, day 1-31)` of a day count since 1970-01-01, proleptic Gregorian. Every
/// `i64` has one (the year stays within about ±2.5·10¹⁶).
///
/// ```
/// assert_eq!(files_core::time::civil_from_days(0), (1970, 1, 1));
/// assert_eq!(files_core::time::civil_from_days(-1), (1969, 12, 31));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = era * 400 + yoe + i128::from(m <= 2);
    // |y| <= |days| / 365 + 1: always an i64.
    (y as i64, m, d)
}

/// `(days since 1970-01-01, second of the day)` of a time; a fraction of a second is dropped
/// (towards the past, also before 1970).
fn day_and_second(t: SystemTime) -> (i64, u32) {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => {
            let d = e.duration();
            -i128::from(d.as_secs()) - i128::from(d.subsec_nanos() > 0)
        }
    };
    // A `Duration` has at most 2^64 seconds: the day count is far inside an i64.
    (
        secs.div_euclid(86_400) as i64,
        secs.rem_euclid(86_400) as u32,
    )
}

/// An HTTP date (IMF-fixdate, RFC 9110): `Sun, 06 Nov 1994 08:49:37 GMT`, to the second.
///
/// Any time formats, dates before 1970 included; the year has at least four digits.
pub fn http_date(t: SystemTime) -> String {
    let (days, sec) = day_and_second(t);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        sec / 3600,
        sec / 60 % 60,
        sec % 60
    )
}

/// A time as RFC 3339 in UTC, to the second: `2024-05-01T12:00:00Z` (a fraction is dropped).
///
/// Any time formats, dates before 1970 included.
pub fn rfc3339(t: SystemTime) -> String {
    let (days, sec) = day_and_second(t);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sec / 3600,
        sec / 60 % 60,
        sec % 60
    )
}

/// The time of a date, `None` before 1970 or past what a [`SystemTime`] holds.
fn to_time(days: i128, second_of_day: i128, nanos: u32) -> Option<SystemTime> {
    let secs = days.checked_mul(86_400)?.checked_add(second_of_day)?;
    UNIX_EPOCH.checked_add(Duration::new(u64::try_from(secs).ok()?, nanos))
}

/// What [`parse_http_date_with`] tolerates besides what [`parse_http_date`] does. The default
/// is [`parse_http_date`]'s reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpDateRules {
    /// Only `Nov`, not `nov` or `NOV`: month names in exactly their IMF-fixdate case.
    pub month_case_sensitive: bool,
    /// Ignore whatever follows the time (the zone, or nothing, or more words): the time is read
    /// as GMT. Without it, the zone must be the last word and `GMT` or `UTC`.
    pub ignore_zone: bool,
}

/// Parses an HTTP date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
///
/// Lenient as servers need it: the words may be separated by any whitespace, the weekday is not
/// checked (any word will do), the month name may be in any case, the zone may be `GMT` or
/// `UTC`, and the numbers need not be zero-padded. The fields are range-checked (day 1-31,
/// hour 0-23, minute 0-59, second 0-60, a leap second counting into the next minute) but not
/// against each other (`31 Feb` is early March). `None` for anything else, a date before 1970
/// or a year too far to hold.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    parse_http_date_with(s, HttpDateRules::default())
}

/// [`parse_http_date`] with a caller's [`HttpDateRules`].
pub fn parse_http_date_with(s: &str, rules: HttpDateRules) -> Option<SystemTime> {
    let mut words = s.split_whitespace();
    let _weekday = words.next()?;
    let day: u32 = words.next()?.parse().ok()?;
    let mon = words.next()?;
    let month = MONTHS.iter().position(|m| {
        if rules.month_case_sensitive {
            *m == mon
        } else {
            m.eq_ignore_ascii_case(mon)
        }
    })? + 1;
    let year: i64 = words.next()?.parse().ok()?;
    let mut hms = words.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if !rules.ignore_zone
        && (!matches!(words.next(), Some("GMT" | "UTC")) || words.next().is_some())
    {
        return None;
    }
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_wide(year.into(), month as i128, day.into());
    to_time(days, (h * 3600 + m * 60 + sec).into(), 0)
}

/// What [`parse_rfc3339_with`] tolerates besides what [`parse_rfc3339`] does. The default is
/// [`parse_rfc3339`]'s reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rfc3339Rules {
    /// Read each field as whatever number stands at its place (`+5`, `-1`, `99` included), with
    /// no check of the separators, of the ranges or of the offset's sign and colon (any sign but
    /// `-` is `+`); out-of-range values count on arithmetically (minute 75 is 1 h 15 min), and a
    /// `.` needs no digits after it.
    pub unchecked_fields: bool,
    /// Ignore whatever follows the seconds and their fraction: an offset is not applied, the
    /// time is read as UTC.
    pub ignore_offset: bool,
}

/// Parses an RFC 3339 time: `2024-05-06T07:08:09Z`, with an optional fraction of a second
/// (`.123`, to the nanosecond; further digits are dropped) and `Z`, `z`, an offset `+01:00` /
/// `-05:30`, or no zone at all (UTC).
///
/// The date and time may be separated by `T`, `t` or a space. The fields are range-checked
/// (month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-60, offset below 24 h) but not
/// against each other. `None` for anything else or a time before 1970.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    parse_rfc3339_with(s, Rfc3339Rules::default())
}

/// [`parse_rfc3339`] with a caller's [`Rfc3339Rules`].
pub fn parse_rfc3339_with(s: &str, rules: Rfc3339Rules) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let checked = !rules.unchecked_fields;
    let digits = |r: Range<usize>| digits_in(b, r);
    if checked
        && !(digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && matches!(b[10], b'T' | b't' | b' ')
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19))
    {
        return None;
    }
    let num = |r: Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if checked
        && !((1..=12).contains(&mo) && (1..=31).contains(&d) && h <= 23 && mi <= 59 && se <= 60)
    {
        return None;
    }
    // Byte 19 is a char boundary: `17..19` parsed.
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if checked && n == 0 {
            return None;
        }
        rest = &frac[n..];
        nanos = frac.as_bytes()[..n.min(9)]
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(9)
            .fold(0, |acc, c| acc * 10 + u32::from(c - b'0'));
    }
    let offset = if rules.ignore_offset {
        0
    } else {
        match rest {
            "Z" | "z" | "" => 0,
            o if o.len() == 6 => {
                let o = o.as_bytes();
                if checked
                    && !(matches!(o[0], b'+' | b'-')
                        && digits_in(o, 1..3)
                        && o[3] == b':'
                        && digits_in(o, 4..6))
                {
                    return None;
                }
                let field =
                    |r: Range<usize>| std::str::from_utf8(o.get(r)?).ok()?.parse::<i64>().ok();
                let (hh, mm) = (field(1..3)?, field(4..6)?);
                if checked && (hh > 23 || mm > 59) {
                    return None;
                }
                let sign = if o[0] == b'-' { -1 } else { 1 };
                sign * (hh * 3600 + mm * 60)
            }
            _ => return None,
        }
    };
    let days = days_wide(y.into(), mo.into(), d.into());
    to_time(days, i128::from(h * 3600 + mi * 60 + se - offset), nanos)
}

fn digits_in(b: &[u8], r: Range<usize>) -> bool {
    b[r].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const LENIENT: Rfc3339Rules = Rfc3339Rules {
        unchecked_fields: true,
        ignore_offset: false,
    };

    #[test]
    fn known_days() {
        for (days, ymd) in [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (59, (1970, 3, 1)),
            (365, (1971, 1, 1)),
            (789, (1972, 2, 29)),
            (11_016, (2000, 2, 29)),
            (11_017, (2000, 3, 1)),
            (19_782, (2024, 2, 29)),
            (47_540, (2100, 2, 28)),
            (47_541, (2100, 3, 1)),
            (-719_468, (0, 3, 1)),
            (-719_469, (0, 2, 29)),
            (-719_528, (0, 1, 1)),
            (2_932_896, (9999, 12, 31)),
            (35_804_721, (99_999, 12, 31)),
        ] {
            assert_eq!(civil_from_days(days), ymd, "{days}");
            assert_eq!(days_from_civil(ymd.0, ymd.1, ymd.2), days, "{ymd:?}");
        }
        // 2100 is not a leap year: its "29 February" is 1 March.
        assert_eq!(days_from_civil(2100, 2, 29), days_from_civil(2100, 3, 1));
        assert_eq!(days_from_civil(2000, 2, 30), days_from_civil(2000, 3, 1));
    }

    #[test]
    fn day_round_trips() {
        let mut prev = civil_from_days(-800_000);
        for days in -799_999..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert!((y, m, d) > prev, "{days}");
            prev = (y, m, d);
        }
        for days in [
            i64::MIN,
            i64::MIN + 1,
            -1 << 40,
            1 << 40,
            i64::MAX - 1,
            i64::MAX,
        ] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{days}");
        }
    }

    #[test]
    fn extreme_fields_do_not_panic() {
        for y in [
            i64::MIN,
            i64::MIN + 1,
            -1 << 62,
            1 << 62,
            i64::MAX - 1,
            i64::MAX,
        ] {
            for m in [0, 1, 2, 3, 12, 13, u32::MAX] {
                for d in [0, 1, 31, u32::MAX] {
                    let _ = days_from_civil(y, m, d);
                }
            }
        }
        assert_eq!(days_from_civil(i64::MAX, 12, 31), i64::MAX);
        assert_eq!(days_from_civil(i64::MIN, 1, 1), i64::MIN);
    }

    #[test]
    fn formats() {
        let t = at(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(rfc3339(t), "1994-11-06T08:49:37Z");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = at(951_868_799); // 2000-02-29T23:59:59Z
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 23:59:59 GMT");
        assert_eq!(
            rfc3339(leap + Duration::from_millis(999)),
            "2000-02-29T23:59:59Z"
        );
        assert_eq!(
            http_date(at(4_107_542_400)),
            "Mon, 01 Mar 2100 00:00:00 GMT"
        );
        assert_eq!(rfc3339(at(253_402_300_799)), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(at(253_402_300_800)), "10000-01-01T00:00:00Z");
        // Before 1970 a fraction is dropped towards the past, too.
        let before = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(rfc3339(before), "1969-12-31T23:59:59Z");
        assert_eq!(http_date(before), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(62_167_219_200)),
            "0000-01-01T00:00:00Z"
        );
    }

    #[test]
    fn formats_extreme_times() {
        let mut extremes = vec![UNIX_EPOCH];
        for secs in [1u64 << 40, 1 << 52, i64::MAX as u64, u64::MAX] {
            let d = Duration::new(secs, 999_999_999);
            extremes.extend(UNIX_EPOCH.checked_add(d));
            extremes.extend(UNIX_EPOCH.checked_sub(d));
            extremes.extend(UNIX_EPOCH.checked_sub(Duration::from_secs(secs)));
        }
        for t in extremes {
            assert!(http_date(t).ends_with(" GMT"));
            assert!(rfc3339(t).ends_with('Z'));
        }
    }

    #[test]
    fn http_dates() {
        let t = at(784_111_777);
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun,  6 nov 1994 8:49:37  GMT",
            "Xyz, 06 NOV 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37:99 GMT",
            "Sun, +6 Nov +1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(s), Some(t), "{s}");
        }
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 23:59:60 GMT"),
            Some(at(951_868_800))
        );
        assert_eq!(
            parse_http_date("Mon, 01 Mar 2100 00:00:00 GMT"),
            Some(at(4_107_542_400))
        );
        assert_eq!(
            parse_http_date("Fri, 31 Dec 99999 23:59:59 GMT"),
            Some(at(3_093_527_980_799))
        );
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994",
            "Sun, 06 Nov 1994 08:49",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 19x4 08:49:37 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_date_rules() {
        let azure = HttpDateRules {
            month_case_sensitive: true,
            ignore_zone: true,
        };
        let t = at(784_111_777);
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 CET and more",
        ] {
            assert_eq!(parse_http_date_with(s, azure), Some(t), "{s}");
        }
        assert_eq!(
            parse_http_date_with("Sun, 06 nov 1994 08:49:37 GMT", azure),
            None
        );
    }

    #[test]
    fn http_date_round_trips() {
        let mut secs = 0u64;
        while secs <= 253_402_300_799 {
            let t = at(secs);
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{secs}");
            secs = secs * 3 + 86_399;
        }
        for secs in [0, 951_782_400, 951_868_799, 4_107_542_400, 253_402_300_799] {
            let t = at(secs);
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{secs}");
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{secs}");
        }
    }

    #[test]
    fn http_dates_never_overflow() {
        for year in [
            "99999",
            "1099511627776",
            "292277026596",
            "292277026597",
            "9223372036854775807",
            "-9223372036854775808",
            "99999999999999999999",
        ] {
            for month in ["Jan", "Feb", "Mar", "Dec"] {
                let s = format!("Fri, 31 {month} {year} 23:59:60 GMT");
                let _ = parse_http_date(&s);
                let _ = parse_http_date_with(
                    &s,
                    HttpDateRules {
                        month_case_sensitive: true,
                        ignore_zone: true,
                    },
                );
            }
        }
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9223372036854775807 23:59:59 GMT"),
            None
        );
        assert_eq!(
            parse_http_date("Fri, 01 Jan -9223372036854775808 00:00:00 GMT"),
            None
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 99999999999999999999:00:00 GMT"),
            None
        );
    }

    #[test]
    fn rfc3339_dates() {
        let t = at(86_401) + Duration::from_millis(500);
        assert_eq!(parse_rfc3339("1970-01-02T00:00:01.5Z"), Some(t));
        assert_eq!(parse_rfc3339("1970-01-02t00:00:01.500000000z"), Some(t));
        assert_eq!(parse_rfc3339("1970-01-02 00:00:01.5"), Some(t));
        assert_eq!(parse_rfc3339("1970-01-02T00:00:01.5000000009999Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00+01:00"),
            Some(at(1_709_204_400))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T05:30:00-05:30"),
            Some(at(1_709_204_400))
        );
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(at(951_782_400)));
        assert_eq!(
            parse_rfc3339("2100-03-01T00:00:00Z"),
            Some(at(4_107_542_400))
        );
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59.999999999Z"),
            Some(at(253_402_300_799) + Duration::from_nanos(999_999_999))
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        for bad in [
            "",
            "yesterday",
            "2024-05-06",
            "2024-05-06T07:08",
            "2024-05-06T07:08:0",
            "2024-05-06T07:08:09.",
            "2024-05-06T07:08:09.x",
            "2024-05-06T07:08:09+0100",
            "2024-05-06T07:08:09+01:0",
            "2024-05-06T07:08:09 +01:00",
            "2024-05-06T07:08:09ZZ",
            "2024-05-06T07:08:09Q",
            "2024-05-06T07:08:09x01:00",
            "2024-05-06T07:08:09+24:00",
            "2024-05-06T07:08:09+01:60",
            "2024/05/06T07:08:09Z",
            "2024-05-06X07:08:09Z",
            "2024-13-06T07:08:09Z",
            "2024-00-06T07:08:09Z",
            "2024-05-32T07:08:09Z",
            "2024-05-06T24:08:09Z",
            "2024-05-06T07:60:09Z",
            "2024-05-06T07:08:61Z",
            "+024-05-06T07:08:09Z",
            "2024-+5-06T07:08:09Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
            "2024-05-06T07:08:0\u{e9}Z",
            "2024-05-06T07:08:09\u{e9}\u{e9}\u{e9}",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_rules() {
        // Unchecked fields: whatever number stands at each place, counted on arithmetically.
        assert_eq!(
            parse_rfc3339_with("2024x02x29x12x00x00Z", LENIENT),
            parse_rfc3339("2024-02-29T12:00:00Z")
        );
        assert_eq!(
            parse_rfc3339_with("1970-01-01T00:75:00Z", LENIENT),
            Some(at(4500))
        );
        assert_eq!(
            parse_rfc3339_with("1970-01-01T+1:-1:00Z", LENIENT),
            Some(at(3540))
        );
        assert_eq!(
            parse_rfc3339_with("1971-13-01T00:00:00Z", LENIENT),
            parse_rfc3339("1972-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_rfc3339_with("1971-00-01T00:00:00Z", LENIENT),
            parse_rfc3339("1970-12-01T00:00:00Z")
        );
        assert_eq!(
            parse_rfc3339_with("1970-01-02T00:00:00.Z", LENIENT),
            Some(at(86_400))
        );
        assert_eq!(
            parse_rfc3339_with("1970-01-02T00:00:00x01:00", LENIENT),
            Some(at(82_800))
        );
        assert_eq!(
            parse_rfc3339_with("1970-01-02T00:00:00+0100", LENIENT),
            None
        );
        assert_eq!(
            parse_rfc3339_with("1970-01-02T00:00:00 junk", LENIENT),
            None
        );
        // Ignored offset: the rest is not read at all.
        let drive = Rfc3339Rules {
            unchecked_fields: true,
            ignore_offset: true,
        };
        assert_eq!(
            parse_rfc3339_with("1970-01-02T00:00:01.5+01:00", drive),
            Some(at(86_401) + Duration::from_millis(500))
        );
        assert_eq!(
            parse_rfc3339_with("1970-01-02T00:00:00 junk", drive),
            Some(at(86_400))
        );
        assert_eq!(parse_rfc3339_with("1970-01-02T00:00:0", drive), None);
        // Every reading of a far or negative field is a time or `None`, never a panic.
        for rules in [Rfc3339Rules::default(), LENIENT, drive] {
            for s in [
                "9999-99-99T99:99:99.999999999999-99:99",
                "-999-01-01T00:00:00Z",
                "0000-01-01T00:00:00+99:99",
                "-9-9-9-9T-9:-9:-9-99:99",
                "99999-12-31T23:59:59Z",
            ] {
                let _ = parse_rfc3339_with(s, rules);
            }
        }
        assert_eq!(parse_rfc3339_with("-999-01-01T00:00:00Z", LENIENT), None);
    }
}
