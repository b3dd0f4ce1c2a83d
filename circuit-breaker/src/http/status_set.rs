//! [`StatusSet`]: which HTTP status codes count as failures, as a bit set
//! (the same set as ballast-retry's, kept here so the breaker does not
//! depend on retry).

use http::StatusCode;
use std::fmt;

/// A set of HTTP status codes (100 to 999), one bit each: membership is a
/// shift and a mask.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StatusSet {
    bits: [u64; 16],
}

impl StatusSet {
    pub(crate) fn of(codes: impl IntoIterator<Item = StatusCode>) -> Self {
        let mut set = Self::default();
        for code in codes {
            set.insert(code);
        }
        set
    }

    pub(crate) fn insert(&mut self, code: StatusCode) {
        let n = usize::from(code.as_u16());
        self.bits[n / 64] |= 1 << (n % 64);
    }

    pub(crate) fn remove(&mut self, code: StatusCode) {
        let n = usize::from(code.as_u16());
        self.bits[n / 64] &= !(1 << (n % 64));
    }

    #[inline]
    pub(crate) fn contains(&self, code: StatusCode) -> bool {
        let n = usize::from(code.as_u16());
        self.bits[n / 64] & (1 << (n % 64)) != 0
    }

    fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (100..1000u16).filter(|&n| self.bits[usize::from(n) / 64] & (1 << (n % 64)) != 0)
    }
}

impl fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}
