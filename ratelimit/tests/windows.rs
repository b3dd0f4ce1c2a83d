//! Fixed and sliding windows at their edges, with explicit `now`.

use ballast_ratelimit::{FixedWindow, SlidingWindow, Window};
use std::time::Duration;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn window(limit: u32) -> Window {
    Window::new(limit, Duration::from_secs(1)).unwrap()
}

#[test]
fn fixed_window_resets_exactly_at_the_boundary() {
    let w = FixedWindow::new(window(3));
    for _ in 0..3 {
        w.check(SEC - 1).unwrap();
    }
    let e = w.check(SEC - 1).unwrap_err();
    assert_eq!(e.retry_after_hint(), Some(Duration::from_nanos(1)));
    for _ in 0..3 {
        w.check(SEC).unwrap();
    }
    assert!(w.check(2 * SEC - 1).is_err());
}

#[test]
fn fixed_window_counts_n_cells_and_refuses_more_than_the_limit_forever() {
    let w = FixedWindow::new(window(3));
    w.check_n(2, 0).unwrap();
    assert!(w.check_n(2, 0).is_err());
    w.check_n(1, 0).unwrap();
    assert!(w.check_n(4, 10 * SEC).unwrap_err().is_permanent());
}

#[test]
fn fixed_window_never_resets_a_newer_window_from_a_late_now() {
    let w = FixedWindow::new(window(2));
    w.check(SEC).unwrap();
    w.check(SEC).unwrap();
    // A thread whose clock read was a little earlier, in window 0.
    let e = w.check(SEC - 1).unwrap_err();
    assert_eq!(e.retry_after_hint(), Some(Duration::from_nanos(SEC + 1)));
}

#[test]
fn sliding_window_weighs_the_previous_window_by_its_overlap() {
    let w = SlidingWindow::new(window(4)).unwrap();
    for _ in 0..4 {
        w.check(900 * MS).unwrap();
    }
    // At 1.25s the previous window weighs 4 × 0.75 = 3: one more passes.
    w.check(1250 * MS).unwrap();
    let e = w.check(1250 * MS).unwrap_err();
    // 4 × (1 − e) + 1 + 1 ≤ 4  ⇔  e ≥ 0.5: 250ms from now.
    assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(250)));
    assert!(w.check(1500 * MS - 1).is_err());
    w.check(1500 * MS).unwrap();
}

#[test]
fn sliding_window_full_current_window_waits_into_the_next() {
    let w = SlidingWindow::new(window(2)).unwrap();
    w.check_n(2, 0).unwrap();
    // In window 1 the 2 cells weigh 2 × (1 − e): one more fits at e = 0.5.
    let e = w.check(100 * MS).unwrap_err();
    assert_eq!(e.retry_after_hint(), Some(Duration::from_millis(1400)));
    assert!(w.check(1500 * MS - 1).is_err());
    w.check(1500 * MS).unwrap();
    // Two windows on, everything has aged out.
    w.check_n(2, 3 * SEC).unwrap();
}

#[test]
fn window_config_errors() {
    assert!(Window::new(0, Duration::from_secs(1)).is_err());
    assert!(Window::new(1, Duration::ZERO).is_err());
    assert!(SlidingWindow::new(Window::new(1 << 21, Duration::from_secs(1)).unwrap()).is_err());
}
