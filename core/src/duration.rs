//! Human-readable durations for config files and messages.
//!
//! [`parse`] reads `"30s"`, `"250ms"`, `"1m30s"`, `"1.5s"`, `"2h"`, `"100us"`,
//! `"10ns"`; [`Human`] prints a duration the same way. With feature `serde`,
//! [`serde`](mod@self::serde) and [`option`] plug into `#[serde(with = ...)]`.

use std::fmt;
use std::time::Duration;

/// Why a duration string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    input: String,
    problem: &'static str,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: {} (expected e.g. \"30s\", \"250ms\", \"1m30s\")",
            self.input, self.problem
        )
    }
}

impl std::error::Error for ParseDurationError {}

/// Parses a duration written as numbers with units: `ns`, `us` (or `µs`),
/// `ms`, `s`, `m`, `h`, `d`; parts add up (`"1m30s"`), a part may have a
/// fraction (`"1.5s"`), and spaces between parts are allowed.
pub fn parse(input: &str) -> Result<Duration, ParseDurationError> {
    let err = |problem| ParseDurationError {
        input: input.to_owned(),
        problem,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err("expected a number"));
        }
        let number = &rest[..num_len];
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "" => return Err(err("missing unit")),
            _ => return Err(err("unknown unit")),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && frac.is_empty() || frac.contains('.') {
            return Err(err("malformed number"));
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err("number too large"))?
        };
        let mut part = whole.checked_mul(unit_nanos).ok_or(err("too large"))?;
        let mut scale = unit_nanos;
        for digit in frac.bytes().take(30) {
            scale /= 10;
            part += u128::from(digit - b'0') * scale;
        }
        // Up to `Duration::MAX`, so whatever `Human` prints reads back.
        let secs = u64::try_from(part / 1_000_000_000).map_err(|_| err("too large"))?;
        let part = Duration::new(secs, (part % 1_000_000_000) as u32);
        total = total.checked_add(part).ok_or(err("too large"))?;
    }
    Ok(total)
}

/// Displays a duration in the shortest exact human form: `3s`, `2.5s`,
/// `250ms`, `1m30s`, `1.000000001s`, `0s`. What it prints, [`parse`]
/// reads back to the same duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let nanos = d.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos >= 60_000_000_000 && nanos % 1_000_000_000 == 0 {
            let secs = d.as_secs();
            let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
            if h > 0 {
                write!(f, "{h}h")?;
            }
            if m > 0 {
                write!(f, "{m}m")?;
            }
            if s > 0 {
                write!(f, "{s}s")?;
            }
            return Ok(());
        }
        let (unit, scale) = if nanos >= 1_000_000_000 {
            ("s", 1_000_000_000u128)
        } else if nanos >= 1_000_000 {
            ("ms", 1_000_000)
        } else if nanos >= 1_000 {
            ("us", 1_000)
        } else {
            ("ns", 1)
        };
        let whole = nanos / scale;
        let mut frac = nanos % scale;
        if frac == 0 {
            return write!(f, "{whole}{unit}");
        }
        // Every fractional digit down to the nanosecond, trailing zeros trimmed.
        let mut digits = String::new();
        let mut s = scale;
        while s > 1 {
            s /= 10;
            digits.push(char::from(b'0' + (frac / s) as u8));
            frac %= s;
        }
        let digits = digits.trim_end_matches('0');
        if digits.is_empty() {
            write!(f, "{whole}{unit}")
        } else {
            write!(f, "{whole}.{digits}{unit}")
        }
    }
}

/// `#[serde(with = "ballast_core::duration::serde")]` for a `Duration` field:
/// reads a human string ("30s") or a number of seconds, writes a human string.
#[cfg(feature = "serde")]
pub mod serde {
    use super::{Human, parse};
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;
    use std::time::Duration;

    /// Writes the duration as a human string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Human(*d))
    }

    /// Reads a human string or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"30s\" or \"250ms\", or a number of seconds")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_secs)
                .map_err(|_| E::custom("a duration cannot be negative"))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Duration::try_from_secs_f64(v).map_err(E::custom)
        }
    }
}

/// `#[serde(with = "ballast_core::duration::option", default)]` for an
/// `Option<Duration>` field.
#[cfg(feature = "serde")]
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `Some` as a human string and `None` as null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serde::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads null, a human string or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::serde")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_compound_forms() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse("100us").unwrap(), Duration::from_micros(100));
        assert_eq!(parse("10ns").unwrap(), Duration::from_nanos(10));
        assert_eq!(parse(".5ms").unwrap(), Duration::from_micros(500));
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        for bad in [
            "",
            "30",
            "s",
            "3x",
            "1..2s",
            "-1s",
            "99999999999999999999999h",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.to_string().contains("invalid duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn every_duration_up_to_max_prints_and_reads_back() {
        for d in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_nanos(u64::MAX),
            Duration::from_nanos(1),
        ] {
            assert_eq!(parse(&Human(d).to_string()).unwrap(), d, "{d:?}");
        }
        assert!(parse("18446744073709551616s").is_err());
    }

    #[test]
    fn human_prints_shortest_exact_form() {
        let h = |d| Human(d).to_string();
        assert_eq!(h(Duration::ZERO), "0s");
        assert_eq!(h(Duration::from_secs(3)), "3s");
        assert_eq!(h(Duration::from_millis(2500)), "2.5s");
        assert_eq!(h(Duration::from_millis(250)), "250ms");
        assert_eq!(h(Duration::from_secs(90)), "1m30s");
        assert_eq!(h(Duration::from_secs(3600)), "1h");
        assert_eq!(h(Duration::from_nanos(1500)), "1.5us");
        assert_eq!(h(Duration::from_nanos(1_000_000_001)), "1.000000001s");
    }

    #[test]
    fn human_output_parses_back() {
        for d in [
            Duration::from_secs(90),
            Duration::from_millis(2500),
            Duration::from_micros(7),
            Duration::from_secs(7322),
            Duration::from_nanos(1_000_500_000),
            Duration::from_nanos(123_456_789),
        ] {
            assert_eq!(parse(&Human(d).to_string()).unwrap(), d);
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_reads_strings_and_numbers() {
        #[derive(::serde::Deserialize)]
        struct C {
            #[serde(with = "crate::duration::serde")]
            a: Duration,
            #[serde(with = "crate::duration::option", default)]
            b: Option<Duration>,
        }
        let c: C = serde_json::from_str(r#"{"a":"1m30s","b":2}"#).unwrap();
        assert_eq!(c.a, Duration::from_secs(90));
        assert_eq!(c.b, Some(Duration::from_secs(2)));
        let c: C = serde_json::from_str(r#"{"a":1.5}"#).unwrap();
        assert_eq!(c.a, Duration::from_millis(1500));
        assert_eq!(c.b, None);
        assert!(serde_json::from_str::<C>(r#"{"a":"soon"}"#).is_err());
    }
}
