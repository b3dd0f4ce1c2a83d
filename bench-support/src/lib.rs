//! The harness every ballast benchmark shares, so ballast and its peers are
//! always timed the same way: one service called in a loop by one task on a
//! current-thread runtime (`1_task`), and by two tasks on a two-worker
//! runtime, side by side (`2_tasks`, time per call per task: equal to
//! `1_task` means perfect scaling).
//!
//! ```no_run
//! use ballast_bench::{Runtimes, configure, run};
//! use criterion::Criterion;
//! use std::convert::Infallible;
//! use tower::service_fn;
//!
//! fn bare() -> impl tower::Service<u64, Response = u64, Error = Infallible, Future: Send>
//! + Clone + Send + 'static {
//!     service_fn(|x: u64| async move { Ok::<_, Infallible>(x) })
//! }
//!
//! let mut c = Criterion::default();
//! let runtimes = Runtimes::new();
//! let mut group = c.benchmark_group("example");
//! configure(&mut group);
//! run(&mut group, &runtimes, "bare", bare);
//! group.finish();
//! ```
#![warn(missing_docs)]

pub mod peers;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use std::fmt::Debug;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};
use tower::{Service, ServiceExt};

/// The two runtimes a benchmark runs its rows on.
pub struct Runtimes {
    /// A current-thread runtime for the `1_task` rows.
    pub one: Runtime,
    /// A two-worker multi-thread runtime for the `2_tasks` rows.
    pub two: Runtime,
}

impl Runtimes {
    /// Builds both runtimes with every driver (time, IO) enabled.
    pub fn new() -> Self {
        Runtimes {
            one: Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime"),
            two: Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a two-worker runtime"),
        }
    }
}

impl Default for Runtimes {
    fn default() -> Self {
        Self::new()
    }
}

/// The settings every ballast benchmark group uses: 30 samples, 1 s of
/// warm-up, 3 s of measurement (short, because the machines are shared:
/// read ratios between rows of one run, not absolute times).
pub fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

/// How a benchmark row calls its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One service value, made ready and called again and again.
    Reused,
    /// A fresh clone per call, `svc.clone().oneshot(req)`, as axum's
    /// router, tonic's server and most hyper servers call a stack.
    Cloned,
}

impl Mode {
    /// `reused` or `clone`, as row names spell it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Reused => "reused",
            Mode::Cloned => "clone",
        }
    }
}

/// `iters` calls through a fresh clone of `svc` each (`oneshot`), as a
/// server calls its stack per request.
pub async fn cloned_calls<S>(svc: &mut S, iters: u64)
where
    S: Service<u64, Response = u64, Error: Debug> + Clone,
{
    for i in 0..iters {
        black_box(
            svc.clone()
                .oneshot(black_box(i))
                .await
                .expect("always succeeds"),
        );
    }
}

async fn calls_in<S>(mode: Mode, svc: &mut S, iters: u64)
where
    S: Service<u64, Response = u64, Error: Debug> + Clone,
{
    match mode {
        Mode::Reused => calls(svc, iters).await,
        Mode::Cloned => cloned_calls(svc, iters).await,
    }
}

/// One way a row calls its service: a [`Mode`], by one task or by two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// A value reused, or a clone per call.
    pub mode: Mode,
    /// 1 (`1_task`, a current-thread runtime) or 2 (`2_tasks`, two
    /// workers side by side).
    pub tasks: usize,
}

impl Shape {
    /// `<mode>/<tasks>`, the start of a row's name.
    pub fn name(self) -> String {
        let tasks = if self.tasks == 1 { "1_task" } else { "2_tasks" };
        format!("{}/{tasks}", self.mode.name())
    }
}

/// Every shape, in the order rows run: one value reused, then a clone per
/// call, each by one task and then two.
pub const SHAPES: [Shape; 4] = [
    Shape {
        mode: Mode::Reused,
        tasks: 1,
    },
    Shape {
        mode: Mode::Reused,
        tasks: 2,
    },
    Shape {
        mode: Mode::Cloned,
        tasks: 1,
    },
    Shape {
        mode: Mode::Cloned,
        tasks: 2,
    },
];

/// Benchmarks `make`'s service as `impl_name` in every [`Shape`]: four
/// rows named `<mode>/<tasks>/<impl_name>`. To compare it with a peer, use
/// [`run_shape`] in a loop over [`SHAPES`] instead, so the rows compared
/// run next to each other.
pub fn run_modes<S>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtimes: &Runtimes,
    impl_name: &str,
    make: fn() -> S,
) where
    S: Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send + 'static,
{
    for shape in SHAPES {
        run_shape(group, runtimes, shape, impl_name, make);
    }
}

/// Benchmarks `make`'s service as `impl_name` in one [`Shape`]: the row
/// `<mode>/<tasks>/<impl_name>`.
///
/// Rows of one shape for ballast and its peers should run back to back
/// (`for shape in SHAPES { run_shape(.., "ballast", ..); run_shape(..,
/// "peer", ..); }`): on a shared VM the two-task rows swing by half for
/// tens of seconds at a time as the host moves the vCPUs, and rows
/// measured minutes apart can land on different sides of such a swing.
pub fn run_shape<S>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtimes: &Runtimes,
    shape: Shape,
    impl_name: &str,
    make: fn() -> S,
) where
    S: Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send + 'static,
{
    let mode = shape.mode;
    let mut svc = make();
    group.bench_function(BenchmarkId::new(shape.name(), impl_name), |b| {
        if shape.tasks == 1 {
            b.iter_custom(|iters| {
                runtimes.one.block_on(async {
                    let start = Instant::now();
                    calls_in(mode, &mut svc, iters).await;
                    start.elapsed()
                })
            })
        } else {
            b.iter_custom(|iters| two_tasks(&runtimes.two, &svc, iters, mode))
        }
    });
}

/// The wall time of two tasks on two workers, each calling its own clone
/// of `svc` `iters` times in `mode`, from the first start to the last end.
fn two_tasks<S>(runtime: &Runtime, svc: &S, iters: u64, mode: Mode) -> Duration
where
    S: Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send + 'static,
{
    runtime.block_on(async {
        let arrived = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let mut svc = svc.clone();
                let arrived = arrived.clone();
                tokio::spawn(async move {
                    start_line(&arrived, 2);
                    let start = Instant::now();
                    calls_in(mode, &mut svc, iters).await;
                    (start, Instant::now())
                })
            })
            .collect();
        let mut spans = Vec::new();
        for task in tasks {
            spans.push(task.await.expect("no panic"));
        }
        let start = spans.iter().map(|&(start, _)| start).min();
        let end = spans.iter().map(|&(_, end)| end).max();
        end.expect("two spans") - start.expect("two spans")
    })
}

/// The short settings of the family-wide hot-path run (`benches/`):
/// 20 samples, 0.5 s of warm-up, 1.5 s of measurement per row, so a full
/// run takes minutes.
pub fn configure_short(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500));
}

/// `iters` calls on `svc`, one after another, as a caller makes them.
pub async fn calls<S>(svc: &mut S, iters: u64)
where
    S: Service<u64, Response = u64, Error: Debug>,
{
    for i in 0..iters {
        let ready = svc.ready().await.expect("always ready");
        black_box(ready.call(black_box(i)).await.expect("always succeeds"));
    }
}

/// Benchmarks `make`'s service as `impl_name` with one task only.
pub fn run_one_task<S>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    impl_name: &str,
    make: fn() -> S,
) where
    S: Service<u64, Response = u64, Error: Debug>,
{
    let mut svc = make();
    group.bench_function(BenchmarkId::new("1_task", impl_name), |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                calls(&mut svc, iters).await;
                start.elapsed()
            })
        })
    });
}

/// Benchmarks `make`'s service as `impl_name` with one task and with two
/// tasks sharing clones of one service.
pub fn run<S>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtimes: &Runtimes,
    impl_name: &str,
    make: fn() -> S,
) where
    S: Service<u64, Response = u64, Error: Debug, Future: Send> + Clone + Send + 'static,
{
    run_one_task(group, &runtimes.one, impl_name, make);

    let svc = make();
    group.bench_function(BenchmarkId::new("2_tasks", impl_name), |b| {
        b.iter_custom(|iters| {
            runtimes.two.block_on(async {
                let arrived = Arc::new(AtomicUsize::new(0));
                let tasks: Vec<_> = (0..2)
                    .map(|_| {
                        let mut svc = svc.clone();
                        let arrived = arrived.clone();
                        tokio::spawn(async move {
                            start_line(&arrived, 2);
                            let start = Instant::now();
                            calls(&mut svc, iters).await;
                            (start, Instant::now())
                        })
                    })
                    .collect();
                let mut spans = Vec::new();
                for task in tasks {
                    spans.push(task.await.expect("no panic"));
                }
                // From the first start to the last finish.
                let start = spans.iter().map(|&(start, _)| start).min();
                let end = spans.iter().map(|&(_, end)| end).max();
                end.unwrap() - start.unwrap()
            })
        })
    });
}

/// Spins until `n` tasks have arrived, so they start together. It blocks
/// the worker on purpose: the other task can then only arrive on another
/// worker, so the tasks really run in parallel (an async barrier lets one
/// worker pick up both and run them one after the other).
///
/// Now and then the other task sits in this worker's queue while the other
/// worker sleeps and never takes it (seen once in four full runs of
/// `hot_paths`). After a second this task gives up and starts alone: that
/// sample times the two tasks one after the other (about twice the others,
/// which the median of a row's samples shrugs off), and the run goes on,
/// with a line on stderr saying so.
pub fn start_line(arrived: &AtomicUsize, n: usize) {
    // AcqRel/Acquire: each task's arrival is seen by the others before any
    // of them starts its clock.
    arrived.fetch_add(1, Ordering::AcqRel);
    let deadline = Instant::now() + Duration::from_secs(1);
    while arrived.load(Ordering::Acquire) < n {
        if Instant::now() >= deadline {
            eprintln!(
                "start_line: the tasks did not run side by side; this sample ran them in turn"
            );
            return;
        }
        std::hint::spin_loop();
    }
}
