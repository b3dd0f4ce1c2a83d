//! Deadlines on the wire: the gRPC `grpc-timeout` format and a plain-HTTP
//! header of milliseconds.
//!
//! What crosses the network is always a *relative* timeout (the budget
//! left), never an instant, so hosts never compare clocks. The sender
//! encodes what remains of its deadline; the receiver decodes it and makes
//! its own deadline that far from its own now.
//!
//! # Rounding: down, but never to zero
//!
//! A propagated budget must never give the next hop more time than the
//! sender has, or the callee keeps working after the caller gave up. So
//! both encoders **round down**, with one exception: a non-zero budget
//! never encodes as zero (which the receiver would take as "already
//! expired" when the sender still had time).
//!
//! - [`encode_grpc_timeout`] picks the finest unit whose value fits in 8
//!   digits. A budget under 100 ms is therefore written exactly in
//!   nanoseconds; a longer one loses less than one unit, and since the
//!   value in the chosen unit is then at least 100 000, that is less than
//!   0.001% of the budget. The value is never zero for a non-zero budget
//!   (1 ns is `1n`). Budgets past 99 999 999 hours (about 11 400 years) are
//!   written `99999999H`.
//! - [`encode_timeout_millis`] writes whole milliseconds, rounded down,
//!   except that a budget between 0 and 1 ms (exclusive) is written `1`:
//!   the only case where the receiver is given more than the sender has,
//!   by less than a millisecond.
//!
//! Rounding up is right for a different job: a timeout you choose for an
//! outgoing call, where firing a hair late beats firing early. For that,
//! [`encode_grpc_timeout_ceil`] rounds up as grpc-go does. The propagation
//! layers always use the rounding-down encoders: rounding up a budget that
//! is handed on would let every hop extend the caller's deadline a little.
//!
//! # Decoding
//!
//! The decoders take the header's raw bytes and never panic: every
//! malformed value is a [`DecodeError`] saying what is wrong
//! ([`DecodeErrorKind`]). They are strict: no sign, no spaces, no
//! fraction, ASCII digits only.
//!
//! ```
//! use ballast_deadline::codec::{decode_grpc_timeout, encode_grpc_timeout, DecodeErrorKind};
//! use std::time::Duration;
//!
//! assert_eq!(encode_grpc_timeout(Duration::from_millis(300)).as_str(), "300000u");
//! assert_eq!(decode_grpc_timeout(b"300m"), Ok(Duration::from_millis(300)));
//! assert_eq!(decode_grpc_timeout(b"300x").unwrap_err().kind(), DecodeErrorKind::UnknownUnit);
//! ```

use std::fmt;
use std::time::Duration;

/// The gRPC header that carries the caller's timeout.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The header the plain-HTTP form uses unless configured otherwise: the
/// caller's budget in whole milliseconds.
pub const DEFAULT_TIMEOUT_MS_HEADER: &str = "x-request-timeout-ms";

/// The most digits `grpc-timeout` allows.
pub const GRPC_MAX_DIGITS: usize = 8;

const GRPC_MAX_VALUE: u64 = 99_999_999;

/// The gRPC units from finest to coarsest, with their length in nanoseconds.
const GRPC_UNITS: [(u8, u64); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60_000_000_000),
    (b'H', 3_600_000_000_000),
];

/// An encoded `grpc-timeout` value (up to 8 digits and a unit), kept on the
/// stack. Read it with [`as_str`](Self::as_str) or `Display`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrpcTimeout {
    buf: [u8; GRPC_MAX_DIGITS + 1],
    len: u8,
}

impl GrpcTimeout {
    /// The value as a header string, for example `"300m"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and a unit letter are ever written.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The value as header bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl fmt::Display for GrpcTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for GrpcTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrpcTimeout({:?})", self.as_str())
    }
}

/// An encoded millisecond timeout (up to 20 digits), kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeoutMillis {
    buf: [u8; 20],
    len: u8,
}

impl TimeoutMillis {
    /// The value as a header string, for example `"300"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever written.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The value as header bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl fmt::Display for TimeoutMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TimeoutMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeoutMillis({:?})", self.as_str())
    }
}

/// Writes `value`'s decimal digits at the start of `buf`, returning how many.
fn write_digits(buf: &mut [u8], mut value: u64) -> usize {
    let mut tmp = [0u8; 20];
    let mut n = 0;
    loop {
        tmp[n] = b'0' + (value % 10) as u8;
        n += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for i in 0..n {
        buf[i] = tmp[n - 1 - i];
    }
    n
}

/// Encodes a budget as a `grpc-timeout` value: at most 8 digits in the
/// finest unit that fits, rounded down, never zero for a non-zero budget.
/// See the [module docs](self) for the rounding contract.
pub fn encode_grpc_timeout(budget: Duration) -> GrpcTimeout {
    let nanos = budget.as_nanos();
    let (unit, value) = GRPC_UNITS
        .iter()
        .find_map(|&(unit, len)| {
            let value = nanos / u128::from(len);
            (value <= u128::from(GRPC_MAX_VALUE)).then_some((unit, value as u64))
        })
        .unwrap_or((b'H', GRPC_MAX_VALUE));
    let mut buf = [0u8; GRPC_MAX_DIGITS + 1];
    let n = write_digits(&mut buf, value);
    buf[n] = unit;
    GrpcTimeout {
        buf,
        len: (n + 1) as u8,
    }
}

/// Encodes a timeout as a `grpc-timeout` value rounded **up**, as grpc-go
/// does: at most 8 digits in the finest unit whose rounded-up value fits.
///
/// Use it for a timeout you set yourself on an outgoing call, where firing
/// a hair late is better than early. Do not use it to hand on what is left
/// of a deadline: that must round down ([`encode_grpc_timeout`]), or each
/// hop would stretch its caller's budget.
pub fn encode_grpc_timeout_ceil(timeout: Duration) -> GrpcTimeout {
    let nanos = timeout.as_nanos();
    let (unit, value) = GRPC_UNITS
        .iter()
        .find_map(|&(unit, len)| {
            let value = nanos.div_ceil(u128::from(len));
            (value <= u128::from(GRPC_MAX_VALUE)).then_some((unit, value as u64))
        })
        .unwrap_or((b'H', GRPC_MAX_VALUE));
    let mut buf = [0u8; GRPC_MAX_DIGITS + 1];
    let n = write_digits(&mut buf, value);
    buf[n] = unit;
    GrpcTimeout {
        buf,
        len: (n + 1) as u8,
    }
}

/// Decodes a `grpc-timeout` value (1 to 8 ASCII digits and one of the
/// units `H`, `M`, `S`, `m`, `u`, `n`).
pub fn decode_grpc_timeout(value: &[u8]) -> Result<Duration, DecodeError> {
    let err = |kind| DecodeError {
        format: Format::Grpc,
        kind,
    };
    let Some((&unit, digits)) = value.split_last() else {
        return Err(err(DecodeErrorKind::Empty));
    };
    let unit_nanos = match GRPC_UNITS.iter().find(|&&(u, _)| u == unit) {
        Some(&(_, len)) => len,
        None if unit.is_ascii_digit() => return Err(err(DecodeErrorKind::MissingUnit)),
        None => return Err(err(DecodeErrorKind::UnknownUnit)),
    };
    if digits.is_empty() {
        return Err(err(DecodeErrorKind::MissingDigits));
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(err(DecodeErrorKind::NotADigit));
    }
    if digits.len() > GRPC_MAX_DIGITS {
        return Err(err(DecodeErrorKind::TooManyDigits));
    }
    let count = parse_digits(digits).ok_or(err(DecodeErrorKind::Overflow))?;
    // 99 999 999 hours is about 3.6e20 ns: too many for u64 nanoseconds,
    // so the product is taken in u128 and split into seconds.
    let nanos = u128::from(count) * u128::from(unit_nanos);
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| err(DecodeErrorKind::Overflow))?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// Encodes a budget as whole milliseconds, rounded down, except that a
/// non-zero budget under 1 ms is written `1`. See the [module docs](self).
pub fn encode_timeout_millis(budget: Duration) -> TimeoutMillis {
    let millis = budget.as_millis();
    let millis = if millis == 0 && !budget.is_zero() {
        1
    } else {
        u64::try_from(millis).unwrap_or(u64::MAX)
    };
    let mut buf = [0u8; 20];
    let len = write_digits(&mut buf, millis) as u8;
    TimeoutMillis { buf, len }
}

/// Decodes a plain-HTTP timeout header: ASCII digits giving milliseconds.
pub fn decode_timeout_millis(value: &[u8]) -> Result<Duration, DecodeError> {
    let err = |kind| DecodeError {
        format: Format::Millis,
        kind,
    };
    if value.is_empty() {
        return Err(err(DecodeErrorKind::Empty));
    }
    if !value.iter().all(u8::is_ascii_digit) {
        return Err(err(DecodeErrorKind::NotADigit));
    }
    let millis = parse_digits(value).ok_or(err(DecodeErrorKind::Overflow))?;
    Ok(Duration::from_millis(millis))
}

/// ASCII digits (already checked) to a number, `None` on overflow.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Which wire format a value was decoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// gRPC's `grpc-timeout`.
    Grpc,
    /// A plain-HTTP header of milliseconds.
    Millis,
}

/// What is wrong with a timeout header value.
///
/// More kinds may be added, so match with a wildcard arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeErrorKind {
    /// The value is empty.
    Empty,
    /// The value ends in a digit: a `grpc-timeout` needs a unit.
    MissingUnit,
    /// The unit is not one of `H`, `M`, `S`, `m`, `u`, `n`.
    UnknownUnit,
    /// A unit with no digits before it.
    MissingDigits,
    /// More than 8 digits in a `grpc-timeout`.
    TooManyDigits,
    /// Something other than an ASCII digit where digits belong (a sign, a
    /// space, a dot, a letter, a non-ASCII byte).
    NotADigit,
    /// The number is too large to be a duration.
    Overflow,
}

impl DecodeErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            DecodeErrorKind::Empty => "empty",
            DecodeErrorKind::MissingUnit => "missing unit (one of H, M, S, m, u, n)",
            DecodeErrorKind::UnknownUnit => "unknown unit (expected one of H, M, S, m, u, n)",
            DecodeErrorKind::MissingDigits => "no digits before the unit",
            DecodeErrorKind::TooManyDigits => "more than 8 digits",
            DecodeErrorKind::NotADigit => "not an unsigned integer of ASCII digits",
            DecodeErrorKind::Overflow => "too large",
        }
    }
}

/// A timeout header value that could not be read.
///
/// Display is lowercase without a period:
/// `invalid grpc-timeout: more than 8 digits`. A server answers it with 400
/// (HTTP) or `INVALID_ARGUMENT` (gRPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecodeError {
    format: Format,
    kind: DecodeErrorKind,
}

impl DecodeError {
    /// What is wrong with the value.
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }

    /// Which format the value was read as.
    pub fn format(&self) -> Format {
        self.format
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.format {
            Format::Grpc => "grpc-timeout",
            Format::Millis => "millisecond timeout",
        };
        write!(f, "invalid {what}: {}", self.kind.as_str())
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use DecodeErrorKind::*;

    fn enc(d: Duration) -> String {
        encode_grpc_timeout(d).as_str().to_owned()
    }

    fn dec(s: &str) -> Result<Duration, DecodeErrorKind> {
        decode_grpc_timeout(s.as_bytes()).map_err(|e| e.kind())
    }

    #[test]
    fn grpc_decodes_every_unit() {
        assert_eq!(dec("7n"), Ok(Duration::from_nanos(7)));
        assert_eq!(dec("7u"), Ok(Duration::from_micros(7)));
        assert_eq!(dec("7m"), Ok(Duration::from_millis(7)));
        assert_eq!(dec("7S"), Ok(Duration::from_secs(7)));
        assert_eq!(dec("7M"), Ok(Duration::from_secs(7 * 60)));
        assert_eq!(dec("7H"), Ok(Duration::from_secs(7 * 3600)));
        assert_eq!(dec("0n"), Ok(Duration::ZERO));
        assert_eq!(dec("00000300m"), Ok(Duration::from_millis(300)));
    }

    #[test]
    fn grpc_encodes_in_the_finest_unit_that_fits_eight_digits() {
        assert_eq!(enc(Duration::ZERO), "0n");
        assert_eq!(enc(Duration::from_nanos(1)), "1n");
        assert_eq!(enc(Duration::from_nanos(99_999_999)), "99999999n");
        assert_eq!(enc(Duration::from_millis(100)), "100000u");
        assert_eq!(enc(Duration::from_millis(300)), "300000u");
        assert_eq!(enc(Duration::from_micros(99_999_999)), "99999999u");
        assert_eq!(enc(Duration::from_secs(100)), "100000m");
        assert_eq!(enc(Duration::from_millis(99_999_999)), "99999999m");
        assert_eq!(enc(Duration::from_secs(100_000)), "100000S");
        assert_eq!(enc(Duration::from_secs(99_999_999)), "99999999S");
        assert_eq!(enc(Duration::from_secs(100_000_000)), "1666666M");
        assert_eq!(enc(Duration::from_secs(60 * 99_999_999)), "99999999M");
        assert_eq!(enc(Duration::from_secs(60 * 100_000_000)), "1666666H");
        assert_eq!(enc(Duration::from_secs(3600 * 99_999_999)), "99999999H");
    }

    #[test]
    fn grpc_encoding_rounds_down_so_the_callee_never_gets_more_than_the_caller_has() {
        // 100 ms + 999 ns does not fit in nanoseconds: the 999 ns are dropped.
        let d = Duration::from_nanos(100_000_999);
        assert_eq!(enc(d), "100000u");
        assert!(decode_grpc_timeout(encode_grpc_timeout(d).as_bytes()).unwrap() <= d);
        // 100 s + 999 999 ns: written in ms, the sub-millisecond part dropped.
        assert_eq!(enc(Duration::from_nanos(100_000_999_999)), "100000m");
        // 100 000 000 s + 59 s: written in whole minutes.
        assert_eq!(enc(Duration::from_secs(100_000_059)), "1666667M");
    }

    #[test]
    fn grpc_encoding_never_turns_a_non_zero_budget_into_zero() {
        for nanos in [1, 2, 999, 1_000, 123_456_789, 999_999_999_999] {
            let d = Duration::from_nanos(nanos);
            let back = decode_grpc_timeout(encode_grpc_timeout(d).as_bytes()).unwrap();
            assert!(back > Duration::ZERO && back <= d, "{d:?} -> {back:?}");
        }
    }

    #[test]
    fn grpc_round_trip_loses_less_than_a_hundred_thousandth() {
        for nanos in [
            100_000_000u64,
            123_456_789_012,
            987_654_321_987_654,
            u64::MAX / 3,
        ] {
            let d = Duration::from_nanos(nanos);
            let back = decode_grpc_timeout(encode_grpc_timeout(d).as_bytes()).unwrap();
            assert!(back <= d);
            assert!(
                (d - back).as_nanos() * 100_000 <= d.as_nanos(),
                "{d:?} -> {back:?}"
            );
        }
    }

    #[test]
    fn grpc_encoding_caps_huge_budgets_at_the_largest_value() {
        assert_eq!(enc(Duration::MAX), "99999999H");
        assert_eq!(enc(Duration::from_secs(3600 * 100_000_000)), "99999999H");
    }

    #[test]
    fn grpc_accepts_exactly_eight_digits_and_refuses_nine() {
        assert_eq!(dec("99999999H"), Ok(Duration::from_secs(99_999_999 * 3600)));
        assert_eq!(dec("12345678n"), Ok(Duration::from_nanos(12_345_678)));
        assert_eq!(dec("123456789n"), Err(TooManyDigits));
        assert_eq!(dec("000000001S"), Err(TooManyDigits));
    }

    #[test]
    fn grpc_refuses_empty_and_missing_parts() {
        assert_eq!(dec(""), Err(Empty));
        assert_eq!(dec("300"), Err(MissingUnit));
        assert_eq!(dec("0"), Err(MissingUnit));
        assert_eq!(dec("S"), Err(MissingDigits));
        assert_eq!(dec("m"), Err(MissingDigits));
    }

    #[test]
    fn grpc_refuses_unknown_units() {
        for bad in ["1s", "1h", "1x", "1 ", "1µ", "1ms", "1\0"] {
            let kind = dec(bad).unwrap_err();
            assert!(kind == UnknownUnit, "{bad:?}: {kind:?}");
        }
    }

    #[test]
    fn grpc_refuses_garbage_digits() {
        for bad in ["-1S", "+1S", " 1S", "1.5S", "1_0S", "abcS", "1 2m", "١S"] {
            let kind = dec(bad).unwrap_err();
            assert!(kind == NotADigit, "{bad:?}: {kind:?}");
        }
        assert_eq!(
            decode_grpc_timeout(&[0xff, b'1', b'S']).unwrap_err().kind(),
            NotADigit
        );
    }

    #[test]
    fn grpc_never_panics_on_arbitrary_bytes() {
        // Every 1- and 2-byte value, and a sample of 3-byte ones.
        for a in 0..=255u8 {
            let _ = decode_grpc_timeout(&[a]);
            for b in 0..=255u8 {
                let _ = decode_grpc_timeout(&[a, b]);
                let _ = decode_grpc_timeout(&[b'9', a, b]);
            }
        }
    }

    #[test]
    fn millis_encoding_rounds_down_but_never_to_zero() {
        let enc = |d| encode_timeout_millis(d).as_str().to_owned();
        assert_eq!(enc(Duration::ZERO), "0");
        assert_eq!(enc(Duration::from_nanos(1)), "1");
        assert_eq!(enc(Duration::from_micros(999)), "1");
        assert_eq!(enc(Duration::from_millis(1)), "1");
        assert_eq!(enc(Duration::from_micros(1_999)), "1");
        assert_eq!(enc(Duration::from_millis(300)), "300");
        assert_eq!(enc(Duration::from_micros(300_999)), "300");
        assert_eq!(enc(Duration::MAX), u64::MAX.to_string());
    }

    #[test]
    fn millis_decodes_digits_and_refuses_the_rest() {
        let dec = |s: &str| decode_timeout_millis(s.as_bytes()).map_err(|e| e.kind());
        assert_eq!(dec("0"), Ok(Duration::ZERO));
        assert_eq!(dec("300"), Ok(Duration::from_millis(300)));
        assert_eq!(dec("0300"), Ok(Duration::from_millis(300)));
        assert_eq!(
            dec(&u64::MAX.to_string()),
            Ok(Duration::from_millis(u64::MAX))
        );
        assert_eq!(dec(""), Err(Empty));
        assert_eq!(dec("18446744073709551616"), Err(Overflow));
        assert_eq!(dec("99999999999999999999999"), Err(Overflow));
        for bad in ["-1", "+1", " 1", "1 ", "1.5", "300ms", "1e3", "abc"] {
            assert_eq!(dec(bad), Err(NotADigit), "{bad:?}");
        }
    }

    #[test]
    fn errors_display_lowercase_with_the_format_and_the_problem() {
        let e = decode_grpc_timeout(b"123456789S").unwrap_err();
        assert_eq!(e.to_string(), "invalid grpc-timeout: more than 8 digits");
        assert_eq!(e.format(), Format::Grpc);
        let e = decode_timeout_millis(b"").unwrap_err();
        assert_eq!(e.to_string(), "invalid millisecond timeout: empty");
        assert_eq!(e.format(), Format::Millis);
    }

    #[test]
    fn grpc_ceil_encoding_rounds_up_in_the_finest_unit_that_fits() {
        use super::encode_grpc_timeout_ceil as ceil;
        // Exact values are unchanged.
        assert_eq!(ceil(Duration::from_millis(300)).as_str(), "300000u");
        assert_eq!(ceil(Duration::from_nanos(99_999_999)).as_str(), "99999999n");
        // Rounding up can push a value past 8 digits, which moves it to the
        // next unit: 123 456 789.001 us rounds up to 123 456 790 us (9
        // digits), so it is written as 123 457 ms.
        assert_eq!(
            ceil(Duration::from_nanos(100_000_000_001)).as_str(),
            "100001m"
        );
        assert_eq!(
            ceil(Duration::from_nanos(123_456_789_001)).as_str(),
            "123457m"
        );
        assert_eq!(ceil(Duration::from_nanos(1_000_001)).as_str(), "1000001n");
        // Every unit can be reached, and the value never rounds below the timeout.
        for (d, want) in [
            (Duration::from_secs(100_000_000), "1666667M"),
            (Duration::from_secs(100_000_000 * 60), "1666667H"),
            (Duration::from_millis(100_000_000_001), "1666667M"),
            (Duration::from_secs(99_999_999), "99999999S"),
        ] {
            let enc = ceil(d);
            assert_eq!(enc.as_str(), want, "{d:?}");
            assert!(decode_grpc_timeout(enc.as_bytes()).unwrap() >= d);
        }
        // Past the largest value it caps, like the rounding-down encoder.
        assert_eq!(ceil(Duration::MAX).as_str(), "99999999H");
    }

    #[test]
    fn grpc_ceil_round_trip_never_shortens_the_timeout() {
        let mut n: u64 = 1;
        while n < u64::MAX / 3 {
            let d = Duration::from_nanos(n);
            let back = decode_grpc_timeout(super::encode_grpc_timeout_ceil(d).as_bytes()).unwrap();
            assert!(
                back >= d && back - d <= d / 50_000 + Duration::from_nanos(1),
                "{d:?} -> {back:?}"
            );
            n = n * 3 + 7;
        }
    }
}
