//! Loom models of the retry budget's concurrent core, through the code
//! that ships: `deposit` is the deposit every call makes.
//!
//! Run with `RUSTFLAGS="--cfg ballast_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p ballast-retry --lib -- loom_models`. Each model is
//! two threads over one `BudgetCore`, asserting inside the model that
//! withdrawals never exceed what the deposits they saw allow, and the
//! final balance after the joins.

use crate::budget::core::BudgetCore;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

const SEC: u64 = 1_000_000_000;

/// 20% of deposits plus `reserve`, over 2 buckets of 1 s.
fn core(reserve: u64) -> Arc<BudgetCore> {
    Arc::new(BudgetCore::new(SEC, 2, 200, reserve))
}

#[test]
fn two_withdrawals_race_for_the_last_retry() {
    loom::model(|| {
        let c = core(1);
        let granted = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (c, granted) = (c.clone(), granted.clone());
                thread::spawn(move || {
                    if c.try_withdraw(0) {
                        let before = granted.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(before, 0, "the budget granted more than its reserve");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(granted.load(Ordering::SeqCst), 1);
        assert_eq!(c.balance(0).available, 0);
    });
}

#[test]
fn concurrent_deposits_and_withdrawals_never_overspend() {
    loom::model(|| {
        // No reserve: 5 deposits pay for exactly 1 retry.
        let c = core(0);
        let granted = Arc::new(AtomicU64::new(0));
        let depositor = {
            let c = c.clone();
            thread::spawn(move || {
                for _ in 0..5 {
                    c.deposit(&0u64);
                }
            })
        };
        let withdrawer = {
            let (c, granted) = (c.clone(), granted.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    if c.try_withdraw(0) {
                        granted.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        depositor.join().unwrap();
        withdrawer.join().unwrap();
        let g = granted.load(Ordering::SeqCst);
        assert!(g <= 1, "granted {g} retries for 5 deposits at 20%");
        let b = c.balance(0);
        assert_eq!(b.deposits, 5);
        assert_eq!(b.withdrawals + b.available, 1);
    });
}

#[test]
fn a_window_roll_racing_a_deposit_never_grows_the_budget() {
    loom::model(|| {
        // Deposits at 0; then one thread deposits while the other rolls
        // the window to 1 s and withdraws.
        let c = core(0);
        for _ in 0..4 {
            c.deposit_at(0);
        }
        let depositor = {
            let c = c.clone();
            thread::spawn(move || c.deposit_at(SEC))
        };
        let withdrawer = {
            let c = c.clone();
            thread::spawn(move || c.try_withdraw(SEC))
        };
        depositor.join().unwrap();
        let granted = withdrawer.join().unwrap();
        // Second 1 held at most the racing deposit when the retry asked:
        // a bucket spends only its own share, so nothing was granted.
        assert!(!granted);
        let b = c.balance(SEC);
        assert!(b.deposits <= 5, "a deposit was counted twice");
        assert_eq!(b.available, 0);
        // Four more in second 1: five there pay for one retry, if the
        // racing deposit landed there (not in second 0, nor lost in the
        // roll); never more.
        for _ in 0..4 {
            c.deposit_at(SEC);
        }
        let b = c.balance(SEC);
        assert!(b.deposits <= 9, "a deposit was counted twice");
        assert!(b.available <= 1);
    });
}

#[test]
fn a_refund_racing_a_withdrawal_never_lets_two_retries_through() {
    loom::model(|| {
        // A reserve of one: a cancelled call took it and gives it back
        // while another call asks for it.
        let c = core(1);
        let period = c.withdraw(0).expect("the reserve");
        let refunder = {
            let c = c.clone();
            thread::spawn(move || c.refund(period))
        };
        let withdrawer = {
            let c = c.clone();
            thread::spawn(move || c.try_withdraw(0))
        };
        refunder.join().unwrap();
        let granted = withdrawer.join().unwrap();
        // Either the refund came first and the retry was granted, or it
        // came after the refusal: one retry in use at most, none lost.
        let b = c.balance(0);
        assert_eq!(b.withdrawals, u64::from(granted));
        assert_eq!(b.available, 1 - u64::from(granted));
    });
}

#[test]
fn call_deposits_racing_a_withdrawal_are_all_counted_and_never_overspent() {
    loom::model(|| {
        // No reserve: five deposits by two threads through the deposit
        // every call makes (each thread on a stripe it owns, written with
        // a plain load and store; each reads the clock now and then) pay
        // for one retry; a withdrawal races them.
        let c = core(0);
        let depositors: Vec<_> = [3, 2]
            .into_iter()
            .map(|n| {
                let c = c.clone();
                thread::spawn(move || {
                    for _ in 0..n {
                        c.deposit(&0u64);
                    }
                })
            })
            .collect();
        let granted = c.try_withdraw(0);
        for d in depositors {
            d.join().unwrap();
        }
        let b = c.balance(0);
        assert_eq!(b.deposits, 5, "a deposit was lost");
        assert_eq!(b.withdrawals, u64::from(granted));
        assert_eq!(b.available, 1 - u64::from(granted));
        assert_eq!(c.total_deposits(), 5);
    });
}

#[test]
fn a_window_roll_racing_a_call_deposit_never_grows_the_budget() {
    loom::model(|| {
        // A call deposits (its clock reads 1 s) while another thread rolls
        // the window to 1 s and withdraws; the thread's first deposit into
        // its stripe looks at the clock, so the depositor may roll too.
        let c = core(0);
        for _ in 0..4 {
            c.deposit_at(0);
        }
        let depositor = {
            let c = c.clone();
            thread::spawn(move || c.deposit(&SEC))
        };
        let withdrawer = {
            let c = c.clone();
            thread::spawn(move || c.try_withdraw(SEC))
        };
        depositor.join().unwrap();
        let granted = withdrawer.join().unwrap();
        // Second 1 holds at most the racing deposit: nothing granted.
        assert!(!granted);
        let b = c.balance(SEC);
        assert_eq!(b.deposits, 5, "a deposit was lost or doubled");
        assert_eq!(b.available, 0, "second 1 spent second 0's deposits");
        assert_eq!(c.total_deposits(), 5);
    });
}
