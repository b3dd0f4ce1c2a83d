//! Where a partition's next claim starts reading, and which claimed rows
//! may go out. A pure policy: the worker passes `now` and what it measured.
//!
//! # Implementation notes
//!
//! - The claim walks the `(partition, ts)` index from a floor. From the
//!   front, it meets the index entries of every row deleted since the
//!   oldest snapshot still open; with a transaction held open elsewhere
//!   those cannot be pruned, and a claim from the front walks all of them
//!   (a crawl that grows with the held transaction's age). So after a batch
//!   whose rows all left the table, the next claim starts at the newest
//!   stamp it removed, less `lookback`.
//! - A floor can pass a row that committed late (its stamp is taken at
//!   enqueue, not at commit). Order never depends on the floor: a row goes
//!   out only if its key's previous message is no longer in the outbox, or
//!   goes out before it in the same batch ([`admit`]); the store reports
//!   for each row whether that predecessor is still waiting. A successor of
//!   a row behind the floor is therefore held, and seeing one sends the
//!   next claim to the front, where the late row is found.
//! - A row behind the floor with no successor yet is found by a rescan,
//!   due every `rescan`. Every read claims the first rows it can see from
//!   its floor, and the position never passes a row the read saw and did
//!   not remove; so a row behind the position was not committed when a
//!   read passed it. Before each rescan the worker measures the store's
//!   horizon: the lowest stamp a row not yet committed can carry (the
//!   oldest start among transactions that may still write stamps;
//!   PostgreSQL's `horizon`). A row passed by any read since that rescan
//!   therefore has a stamp at least that horizon, and the next rescan
//!   reads from the lower of that horizon and the position, less
//!   `lookback`: it walks back over a rescan interval's worth of deleted
//!   entries, not over everything deleted since the held transaction began.
//!   Where the horizon is unknown (SQLite, a writer whose start PostgreSQL
//!   does not show), a rescan reads from the front, and every
//!   [`FRONT_EVERY`]th rescan does anyway (a server clock stepped back
//!   further than `lookback` could otherwise hide a row until the lease
//!   moves).
//! - Whatever a batch leaves behind (not acknowledged, refused, held by
//!   the rule above) keeps the floor at or before it.

use crate::store::Claimed;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Every this many rescans, one reads from the front whatever the horizon
/// says (about a minute with the default one-second rescan).
pub(crate) const FRONT_EVERY: u32 = 60;

/// One partition's read position, kept in memory while its lease is held
/// (a new lease starts from the front).
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    /// The newest stamp a clean batch removed; `None` reads from the front.
    at: Option<i64>,
    /// The horizon measured before the last rescan (`None`: unknown).
    horizon: Option<i64>,
    /// When the last rescan read.
    last_rescan: Option<Instant>,
    /// Rescans since the last read from the front.
    rescans: u32,
    rescan: Duration,
    /// How far below the position a read starts, in stamp units
    /// (microseconds).
    lookback: i64,
}

impl Cursor {
    pub(crate) fn new(rescan: Duration, lookback: Duration) -> Self {
        Cursor {
            at: None,
            horizon: None,
            last_rescan: None,
            rescans: 0,
            rescan,
            lookback: i64::try_from(lookback.as_micros()).unwrap_or(i64::MAX),
        }
    }

    /// Whether the next read is a rescan: the caller then measures the
    /// store's horizon first and passes it to [`Cursor::floor`].
    pub(crate) fn rescan_due(&self, now: Instant) -> bool {
        let fresh = self
            .last_rescan
            .is_some_and(|t| now.saturating_duration_since(t) < self.rescan);
        self.at.is_none() || !fresh
    }

    /// The lowest stamp the next read looks at; `None` reads from the
    /// front. `measured` is the horizon measured just before, when
    /// [`Cursor::rescan_due`] said so (ignored otherwise); the read is then
    /// counted as that rescan.
    pub(crate) fn floor(&mut self, now: Instant, measured: Option<i64>) -> Option<i64> {
        if !self.rescan_due(now) {
            return self.at.map(|at| at.saturating_sub(self.lookback));
        }
        let from = match (self.at, self.horizon) {
            (Some(at), Some(horizon)) if self.rescans + 1 < FRONT_EVERY => {
                self.rescans += 1;
                Some(at.min(horizon).saturating_sub(self.lookback))
            }
            _ => {
                self.rescans = 0;
                None
            }
        };
        self.horizon = measured;
        self.last_rescan = Some(now);
        from
    }

    /// Sends the next read to the front.
    pub(crate) fn reset(&mut self) {
        self.at = None;
    }

    /// Moves the position after a batch was recorded. `claimed` are the
    /// stamps of every row the batch claimed (admitted or not), `left` those
    /// of the rows it did not remove; `held_back` says [`admit`] held a row
    /// behind a predecessor the read did not meet.
    pub(crate) fn advance(&mut self, claimed: &[i64], left: &[i64], held_back: bool) {
        if held_back {
            self.at = None;
        } else if let Some(&lowest) = left.iter().min() {
            // Every row the read met below the lowest one left behind is
            // gone; rows it did not meet are the rescan's to find.
            self.at = Some(lowest);
        } else if let Some(&newest) = claimed.iter().max() {
            self.at = Some(newest);
        }
    }
}

/// Splits claimed rows (oldest stamp first) into those that may be
/// published now and a count of those held: a row is admitted when its
/// key's previous message is no longer waiting, or was admitted earlier in
/// this batch (and is then published before it).
pub(crate) fn admit(rows: Vec<Claimed>) -> (Vec<Claimed>, usize) {
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut admitted = Vec::with_capacity(rows.len());
    let mut held = 0;
    for row in rows {
        let follows = last.get(&row.key) == Some(&(row.seq - 1));
        if !row.after_waiting || follows {
            last.insert(row.key.clone(), row.seq);
            admitted.push(row);
        } else {
            held += 1;
        }
    }
    (admitted, held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn row(key: &str, seq: i64, ts: i64, after_waiting: bool) -> Claimed {
        Claimed {
            id: Uuid::now_v7(),
            key: key.into(),
            seq,
            ts,
            after_waiting,
            topic: "t".into(),
            headers: "[]".into(),
            payload: Vec::new(),
            attempts: 0,
        }
    }

    fn keys(rows: &[Claimed]) -> Vec<(String, i64)> {
        rows.iter().map(|r| (r.key.clone(), r.seq)).collect()
    }

    #[test]
    fn a_row_whose_predecessor_is_claimed_before_it_in_the_batch_is_admitted() {
        let (ok, held) = admit(vec![
            row("a", 1, 10, false),
            row("a", 2, 11, true),
            row("a", 3, 12, true),
        ]);
        assert_eq!(held, 0);
        assert_eq!(
            keys(&ok),
            [("a".into(), 1), ("a".into(), 2), ("a".into(), 3)]
        );
    }

    #[test]
    fn a_row_whose_predecessor_waits_outside_the_batch_is_held_with_its_successors() {
        let (ok, held) = admit(vec![
            row("a", 5, 10, true),
            row("b", 1, 11, false),
            row("a", 6, 12, true),
        ]);
        assert_eq!(held, 2);
        assert_eq!(keys(&ok), [("b".into(), 1)]);
    }

    #[test]
    fn the_first_read_and_a_rescan_without_a_horizon_start_from_the_front() {
        let t0 = Instant::now();
        let mut c = Cursor::new(Duration::from_secs(1), Duration::ZERO);
        assert!(c.rescan_due(t0));
        assert_eq!(c.floor(t0, None), None);
        c.advance(&[10, 20], &[], false);
        assert!(!c.rescan_due(t0 + Duration::from_millis(999)));
        assert_eq!(c.floor(t0 + Duration::from_millis(999), None), Some(20));
        assert!(c.rescan_due(t0 + Duration::from_secs(1)));
        assert_eq!(c.floor(t0 + Duration::from_secs(1), None), None);
        assert_eq!(c.floor(t0 + Duration::from_millis(1500), None), Some(20));
    }

    #[test]
    fn a_rescan_reads_from_the_horizon_measured_before_the_previous_one() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut c = Cursor::new(s, Duration::from_micros(5));
        // The front read measured 100: a row a later read passes before
        // it commits carries at least 100.
        assert_eq!(c.floor(t0, Some(100)), None);
        c.advance(&[90, 300], &[], false);
        assert_eq!(c.floor(t0, Some(999)), Some(295));
        // The rescan goes back to 100 (less the lookback), not the front,
        // and remembers what was measured before it.
        assert_eq!(c.floor(t0 + s, Some(250)), Some(95));
        c.advance(&[120, 400], &[], false);
        assert_eq!(c.floor(t0 + 2 * s, Some(500)), Some(245));
    }

    #[test]
    fn a_rescan_never_starts_above_the_position() {
        // A backlog older than the horizon: the rescan keeps walking it.
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut c = Cursor::new(s, Duration::ZERO);
        assert_eq!(c.floor(t0, Some(1_000_000)), None);
        c.advance(&[10, 20], &[], false);
        assert_eq!(c.floor(t0 + s, Some(1_000_000)), Some(20));
    }

    #[test]
    fn an_unknown_horizon_sends_the_next_rescan_to_the_front() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut c = Cursor::new(s, Duration::ZERO);
        c.floor(t0, Some(5));
        c.advance(&[10, 20], &[], false);
        assert_eq!(c.floor(t0 + s, None), Some(5));
        assert_eq!(c.floor(t0 + 2 * s, Some(15)), None);
        c.advance(&[30], &[], false);
        assert_eq!(c.floor(t0 + 3 * s, Some(25)), Some(15));
    }

    #[test]
    fn every_sixtieth_rescan_reads_from_the_front_whatever_the_horizon() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut c = Cursor::new(s, Duration::ZERO);
        assert_eq!(c.floor(t0, Some(0)), None);
        c.advance(&[10], &[], false);
        let mut fronts = Vec::new();
        for i in 1..=2 * FRONT_EVERY {
            if c.floor(t0 + i * s, Some(i64::from(i))).is_none() {
                fronts.push(i);
            }
            c.advance(&[10 + i64::from(i)], &[], false);
        }
        assert_eq!(fronts, [FRONT_EVERY, 2 * FRONT_EVERY]);
    }

    #[test]
    fn the_floor_trails_the_position_by_the_lookback() {
        let t0 = Instant::now();
        let mut c = Cursor::new(Duration::from_secs(1), Duration::from_micros(5));
        c.floor(t0, None);
        c.advance(&[10, 20], &[], false);
        assert_eq!(c.floor(t0, None), Some(15));
    }

    #[test]
    fn rows_left_behind_keep_the_floor_at_the_lowest_of_them() {
        let t0 = Instant::now();
        let mut c = Cursor::new(Duration::from_secs(1), Duration::ZERO);
        c.floor(t0, None);
        c.advance(&[10, 20, 30], &[20, 30], false);
        assert_eq!(c.floor(t0, None), Some(20));
        c.advance(&[20, 40], &[], false);
        assert_eq!(c.floor(t0, None), Some(40));
        c.advance(&[40, 50], &[45], false);
        assert_eq!(c.floor(t0, None), Some(45));
    }

    #[test]
    fn a_held_row_sends_the_next_read_to_the_front() {
        let t0 = Instant::now();
        let mut c = Cursor::new(Duration::from_secs(1), Duration::ZERO);
        c.floor(t0, Some(0));
        c.advance(&[10], &[], false);
        c.advance(&[20, 30], &[30], true);
        assert!(c.rescan_due(t0));
        assert_eq!(c.floor(t0, Some(0)), None);
        c.advance(&[10], &[], false);
        c.reset();
        assert_eq!(c.floor(t0, None), None);
    }
}
