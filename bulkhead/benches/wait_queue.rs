//! What a call that has to wait costs as the queue grows: the wait queue.
//!
//! A limit of one permit, held for the whole run, and `n` calls already
//! waiting (each polled once, so each has its waker stored and its wait
//! timer armed). Each iteration one more call arrives, joins the queue at
//! the back, is polled once (finds no permit, stores its waker) and is
//! dropped (leaves the queue): the work of a waiter behind `n` others.
//!
//! - `ballast`: the fixed bulkhead's `call`, a queue of up to 20,000 and a
//!   `max_wait` of an hour (so each call also arms and disarms its timer);
//! - `tokio_semaphore`: `tokio::sync::Semaphore::acquire`, the fair queue
//!   tower's `ConcurrencyLimit` waits on: the peer;
//! - `tokio_semaphore_timeout`: the same inside `tokio::time::timeout` of
//!   an hour, so it arms and disarms a timer as ballast's wait does: the
//!   like-for-like peer.
//!
//! Rows `behind_10` and `behind_10000`: equal figures for one
//! implementation mean the cost does not grow with the queue.
//!
//! Figures on a shared 2-core machine (medians of 3 runs): before the
//! queue became a linked slab, `ballast` took 246 ns behind 10 waiters and
//! 12.8 us behind 10,000 (52 times as long; 1,308 vs 131,177 instructions
//! under callgrind); after, 221 and 222 ns (1,190 instructions both), 1.1
//! times `tokio_semaphore_timeout` at either length.
//!
//! Run: `cargo bench -p ballast-bulkhead --bench wait_queue`.

use ballast_bench::configure;
use ballast_bulkhead::{Bulkhead, Config};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const QUEUES: [usize; 2] = [10, 10_000];
const HOUR: Duration = Duration::from_secs(3600);

/// Polls `fut` once, expecting it to wait.
fn poll_pending<F: Future + ?Sized>(fut: Pin<&mut F>) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.poll(&mut cx).is_pending(), "the permit is held");
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn ballast(group: &mut Group<'_>, n: usize) {
    let b = Bulkhead::new(
        Config::builder()
            .max_concurrent_calls(1)
            .max_wait(HOUR)
            .max_queue_len(20_000)
            .build()
            .expect("valid config"),
    );
    let mut held = Box::pin(b.call(std::future::pending::<()>));
    poll_pending(held.as_mut());
    let mut waiting = Vec::with_capacity(n);
    for _ in 0..n {
        let mut w = Box::pin(b.call(|| async {}));
        poll_pending(w.as_mut());
        waiting.push(w);
    }
    assert_eq!(b.snapshot().queued, n);
    group.bench_function(
        BenchmarkId::new(format!("behind_{n}"), "ballast"),
        |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let call = pin!(b.call(|| async {}));
                    poll_pending(call);
                }
                start.elapsed()
            })
        },
    );
    assert_eq!(black_box(b.snapshot()).queued, n);
}

fn tokio_semaphore(group: &mut Group<'_>, n: usize) {
    let sem = Arc::new(Semaphore::new(1));
    let _held = sem.clone().try_acquire_owned().expect("free");
    let mut waiting = Vec::with_capacity(n);
    for _ in 0..n {
        let mut w = Box::pin(sem.clone().acquire_owned());
        poll_pending(w.as_mut());
        waiting.push(w);
    }
    group.bench_function(
        BenchmarkId::new(format!("behind_{n}"), "tokio_semaphore"),
        |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let acquire = pin!(sem.acquire());
                    poll_pending(acquire);
                }
                start.elapsed()
            })
        },
    );
    group.bench_function(
        BenchmarkId::new(format!("behind_{n}"), "tokio_semaphore_timeout"),
        |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let acquire = pin!(tokio::time::timeout(HOUR, sem.acquire()));
                    poll_pending(acquire);
                }
                start.elapsed()
            })
        },
    );
}

fn wait_queue(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // Each call's wait timer needs the runtime's time driver.
    let _enter = rt.enter();
    let mut group = c.benchmark_group("wait_queue");
    configure(&mut group);
    for n in QUEUES {
        ballast(&mut group, n);
        tokio_semaphore(&mut group, n);
    }
    group.finish();
}

criterion_group!(benches, wait_queue);
criterion_main!(benches);
