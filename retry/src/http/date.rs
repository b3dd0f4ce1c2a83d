//! `Retry-After` and the HTTP-date it may carry (RFC 9110 §10.2.3 and
//! §5.6.7), parsed by hand: IMF-fixdate and the two obsolete forms every
//! recipient must still accept, RFC 850 and asctime.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SHORT_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// How long a `Retry-After` value asks the client to wait, counted from
/// `now`: `delay-seconds` (`"120"`) or an HTTP-date (`"Sun, 06 Nov 1994
/// 08:49:37 GMT"`, or its RFC 850 or asctime forms). A date already past
/// is zero; seconds too many for a `u64` saturate. `None` when the value
/// is neither (the caller then falls back to its own backoff).
///
/// ```
/// use ballast_retry::http::parse_retry_after;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // 06 Nov 1994 08:49:37
/// assert_eq!(parse_retry_after(b"120", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after(b"Sun, 06 Nov 1994 08:50:07 GMT", now),
///     Some(Duration::from_secs(30))
/// );
/// assert_eq!(parse_retry_after(b"soon", now), None);
/// ```
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let value = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // delay-seconds = 1*DIGIT; more digits than a u64 holds is "very
        // long", which the caller caps.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value, now)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The instant an HTTP-date names, in any of the three forms RFC 9110
/// requires a recipient to accept:
///
/// - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`;
/// - RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT` (a two-digit year that
///   would be more than 50 years after `now` is taken as the latest past
///   year with those digits, as RFC 9110 says);
/// - asctime: `Sun Nov  6 08:49:37 1994`.
///
/// The day name must be a day name but is not checked against the date
/// (as most recipients do). `None` for anything else, including an
/// impossible date (31 Feb) or time.
pub fn parse_http_date(value: &str, now: SystemTime) -> Option<SystemTime> {
    let (year, month, day, time) = if let Some((day_name, rest)) = value.split_once(", ") {
        if SHORT_DAYS.contains(&day_name) {
            imf_fixdate(rest)?
        } else if LONG_DAYS.contains(&day_name) {
            rfc850(rest, now)?
        } else {
            return None;
        }
    } else {
        asctime(value)?
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)?.checked_add(time)?;
    match u64::try_from(secs) {
        Ok(secs) => UNIX_EPOCH.checked_add(Duration::from_secs(secs)),
        Err(_) => UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs())),
    }
}

/// `06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(rest: &str) -> Option<(i64, i64, i64, i64)> {
    let b = rest.as_bytes();
    if b.len() != 24 || b[2] != b' ' || b[6] != b' ' || b[11] != b' ' || &rest[20..] != " GMT" {
        return None;
    }
    let day = digits(&b[0..2])?;
    let month = month(rest.get(3..6)?)?;
    let year = digits(&b[7..11])?;
    let time = time_of_day(&b[12..20])?;
    Some((year, month, day, time))
}

/// `06-Nov-94 08:49:37 GMT`
fn rfc850(rest: &str, now: SystemTime) -> Option<(i64, i64, i64, i64)> {
    let b = rest.as_bytes();
    if b.len() != 22 || b[2] != b'-' || b[6] != b'-' || b[9] != b' ' || &rest[18..] != " GMT" {
        return None;
    }
    let day = digits(&b[0..2])?;
    let month = month(rest.get(3..6)?)?;
    let yy = digits(&b[7..9])?;
    let time = time_of_day(&b[10..18])?;
    // RFC 9110 §5.6.7: a date that appears to be more than 50 years in the
    // future is the most recent past year with the same last two digits.
    let this_year = year_of(now);
    let mut year = this_year - this_year.rem_euclid(100) + yy;
    if year > this_year + 50 {
        year -= 100;
    }
    Some((year, month, day, time))
}

/// `Sun Nov  6 08:49:37 1994` (a one-digit day is padded with a space)
fn asctime(value: &str) -> Option<(i64, i64, i64, i64)> {
    let b = value.as_bytes();
    if b.len() != 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
        return None;
    }
    if !SHORT_DAYS.contains(&value.get(0..3)?) {
        return None;
    }
    let month = month(value.get(4..7)?)?;
    let day = match b[8] {
        b' ' => digits(&b[9..10])?,
        _ => digits(&b[8..10])?,
    };
    let time = time_of_day(&b[11..19])?;
    let year = digits(&b[20..24])?;
    Some((year, month, day, time))
}

/// `HH:MM:SS` as seconds since midnight; a leap second (60) is allowed.
fn time_of_day(b: &[u8]) -> Option<i64> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

/// A run of ASCII digits (and nothing else) as a number.
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

/// `Jan` is 1. Case-sensitive, as the grammar is.
fn month(name: &str) -> Option<i64> {
    let i = MONTHS.iter().position(|m| *m == name)?;
    Some(i as i64 + 1)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given (proleptic Gregorian) date: Howard
/// Hinnant's `days_from_civil`, with March as the first month of the year
/// so the leap day comes last.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (UTC) year `t` falls in: Hinnant's `civil_from_days`, year only.
fn year_of(t: SystemTime) -> i64 {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX / 2),
    };
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let year = yoe + era * 400;
    // Months from March: January and February belong to the next year.
    if mp >= 10 { year + 1 } else { year }
}

#[cfg(all(test, not(ballast_loom)))]
mod tests {
    use super::*;

    /// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example.
    const EXAMPLE: u64 = 784_111_777;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_three_forms_of_rfc_9110s_example_name_the_same_instant() {
        let now = at(EXAMPLE);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(form, now), Some(at(EXAMPLE)), "{form}");
        }
    }

    #[test]
    fn civil_days_round_trip_over_four_centuries() {
        // Every day from 1900 to 2300 maps to the next day number, and
        // its year comes back.
        let mut expected = days_from_civil(1900, 1, 1);
        for year in 1900..2300 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    let days = days_from_civil(year, month, day);
                    assert_eq!(days, expected, "{year}-{month}-{day}");
                    expected += 1;
                    if days >= 0 {
                        assert_eq!(year_of(at(days as u64 * 86_400 + 43_200)), year);
                    }
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn a_two_digit_year_more_than_fifty_years_ahead_is_in_the_past() {
        // In 2026: 76 would be 2076 (50 years ahead, kept); 77 is 1977.
        let now = parse_http_date("Mon, 23 Nov 2026 12:00:00 GMT", at(0)).unwrap();
        let y = |s: &str| year_of(parse_http_date(s, now).unwrap());
        assert_eq!(y("Monday, 23-Nov-76 12:00:00 GMT"), 2076);
        assert_eq!(y("Tuesday, 23-Nov-77 12:00:00 GMT"), 1977);
        assert_eq!(y("Friday, 01-Jan-26 00:00:00 GMT"), 2026);
        assert_eq!(y("Friday, 01-Jan-99 00:00:00 GMT"), 1999);
    }

    #[test]
    fn malformed_dates_are_refused() {
        let now = at(EXAMPLE);
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov 06 08:49:37 94",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sun, 0x Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:3 GMT",
        ] {
            assert_eq!(parse_http_date(bad, now), None, "{bad:?}");
        }
        // A leap day and a leap second are real.
        assert!(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT", now).is_some());
        assert!(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", now).is_some());
        // asctime's day may be two digits.
        assert!(parse_http_date("Sun Nov 16 08:49:37 1994", now).is_some());
    }
}
