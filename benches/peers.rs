//! Caller-thread cost per call, side by side: floors, metlog, and the
//! crates a Rust user would otherwise pick (cadence, metrics, tracing).
//!
//! ```text
//! cargo bench -p metlog-benches --bench peers && python3 scripts/bench_ratios.py peers empty_fn
//! ```
//!
//! Every line measures what the *calling* thread pays; delivery happens on
//! background threads (metlog's worker, cadence's queue thread, the metrics
//! statsd exporter's, tracing-appender's). A UDP socket on 127.0.0.1
//! receives (and discards) whatever is sent. See BENCHMARKS.md for what each
//! line means.
//!
//! Lines with queued delivery are measured two ways: `<line>` calls in a
//! continuous loop (a caller that outruns the worker fills the queue, and
//! its calls are then mostly refused pushes), `<line>_burst` in bursts of
//! 4,096 calls with the queue drained, untimed, between them (every call is
//! an accepted message). A line with only a `_burst` name is measured only
//! that way.

use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cadence::prelude::*;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use metlog::sender::{Delivery, NullSender, SendError, Sender, StatsdSender, UdpSender};
use metlog::{Client, Record};

#[inline(never)]
fn empty_fn(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[metlog::incr("bench.incr")]
fn annotated_incr(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[metlog::timer("bench.timer")]
fn annotated_timer(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[metlog::timer("bench.disabled")]
fn annotated_disabled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[metlog::timer("bench.sampled", rate = 0.001)]
fn annotated_sampled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[tracing::instrument(level = "info", skip_all)]
fn traced(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// The global client's sender, switchable between the benchmark lines (one
/// relaxed load on top of the sender's own cost).
struct Switch {
    active: AtomicUsize,
    senders: Vec<Box<dyn Sender>>,
}

impl Sender for Switch {
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        self.senders[self.active.load(Ordering::Relaxed)].send(record)
    }
    fn flush(&self) -> Result<(), SendError> {
        self.senders[self.active.load(Ordering::Relaxed)].flush()
    }
    /// Always `Some`, as the network senders answer, so the client leaves
    /// counting to them as it does for a real `UdpSender` (the null line's
    /// messages are then not in the final stats).
    fn delivery(&self) -> Option<Delivery> {
        Some(
            self.senders
                .iter()
                .filter_map(|s| s.delivery())
                .fold(Delivery::default(), |a, b| a + b),
        )
    }
}

static SWITCH: std::sync::OnceLock<&'static Switch> = std::sync::OnceLock::new();

fn select(index: usize) {
    if let Some(switch) = SWITCH.get() {
        switch.active.store(index, Ordering::Relaxed);
    }
}

fn bench(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, mut f: impl FnMut()) {
    group.bench_function(id, |b| b.iter(&mut f));
}

/// Calls in a burst that fits the queue.
const BURST: u64 = 4_096;

/// For queued delivery: times bursts of calls and waits, untimed, for the
/// queue to drain between them. The worker runs during the burst as it
/// would in a service, but the queue is never full, so the line is what an
/// accepted message costs the caller rather than what a refused one does.
fn bench_bursts(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    mut call: impl FnMut(),
    mut drain: impl FnMut(),
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BURST);
                let start = Instant::now();
                for _ in 0..n {
                    call();
                }
                total += start.elapsed();
                drain();
                left -= n;
            }
            total
        })
    });
}

/// Measures `call` both ways: `id` continuously (`bench`) and `id_burst`
/// in bursts (`bench_bursts`), each starting from a drained queue.
///
/// Continuously, a caller faster than the worker fills the queue, and from
/// then on its calls are mostly refused pushes (dropped and counted, never
/// blocking): that line is the caller's steady cost whether or not delivery
/// keeps up. The `_burst` line is what an accepted message costs.
fn bench_both(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    mut call: impl FnMut(),
    mut drain: impl FnMut(),
) {
    drain();
    bench(group, id, &mut call);
    drain();
    bench_bursts(group, &format!("{id}_burst"), &mut call, &mut drain);
}

/// The target of the tracing-appender drain's marker line.
const DRAIN_TARGET: &str = "bench_drain";
/// How tracing-subscriber's JSON formatter ends that line (the target is
/// the last field it writes, after the event's fields).
const MARKER_END: &[u8] = b"\"target\":\"bench_drain\"}\n";

/// tracing-appender's destination: discards every line, and counts the
/// drain's marker lines (those ending in `MARKER_END`).
struct MarkerSink(&'static AtomicU64);

impl std::io::Write for MarkerSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.ends_with(MARKER_END) {
            self.0.fetch_add(1, Ordering::Release);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_addr = sink.local_addr().unwrap();
    // Drain the receiver so the kernel never pushes back.
    std::thread::spawn(move || {
        let mut buf = [0u8; 65_536];
        while sink.recv(&mut buf).is_ok() {}
    });

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    let mut group = c.benchmark_group("peers");

    // Floors.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    bench(&mut group, "empty_fn", || {
        black_box(empty_fn(black_box(7)));
    });
    bench(&mut group, "atomic_add", || {
        COUNTER.fetch_add(1, Ordering::Relaxed);
    });
    bench(&mut group, "instant_now", || {
        black_box(Instant::now());
    });
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(65_536);
    std::thread::spawn(move || while rx.recv().is_ok() {});
    bench(&mut group, "channel_push", || {
        let _ = black_box(tx.try_send(black_box(1)));
    });

    // metlog with no client anywhere.
    bench(&mut group, "metlog_no_client", || {
        black_box(annotated_timer(black_box(7)));
    });

    // tracing with no subscriber.
    bench(&mut group, "tracing_instrument_none", || {
        black_box(traced(black_box(7)));
    });

    // metlog with a global client whose sender the lines switch between.
    let switch: &'static Switch = Box::leak(Box::new(Switch {
        active: AtomicUsize::new(0),
        senders: vec![
            Box::new(NullSender),
            Box::new(UdpSender::new(sink_addr).unwrap()),
            Box::new(StatsdSender::new(sink_addr).unwrap()),
        ],
    }));
    let _ = SWITCH.set(switch);
    let client = Client::builder("bench")
        .sender(SwitchRef(switch))
        .disabled_timers(["bench.disabled"])
        .build();
    metlog::set_global_client(client.clone()).unwrap();

    bench(&mut group, "metlog_disabled", || {
        black_box(annotated_disabled(black_box(7)));
    });
    bench(&mut group, "metlog_sampled_out", || {
        black_box(annotated_sampled(black_box(7)));
    });
    select(0);
    bench(&mut group, "metlog_incr_null", || {
        black_box(annotated_incr(black_box(7)));
    });
    bench(&mut group, "metlog_timer_null", || {
        black_box(annotated_timer(black_box(7)));
    });
    let drain_metlog = || client.flush();
    select(1);
    bench_bursts(
        &mut group,
        "metlog_incr_udp_json_burst",
        || {
            black_box(annotated_incr(black_box(7)));
        },
        drain_metlog,
    );

    // Every way of counting and timing, with the queued `StatsdSender`
    // behind the global client's switch, each measured both ways
    // (`bench_both`): `<form>_statsd` and `<form>_statsd_burst`.
    select(2);
    bench_both(
        &mut group,
        "metlog_incr_statsd",
        || {
            black_box(annotated_incr(black_box(7)));
        },
        drain_metlog,
    );
    bench_both(
        &mut group,
        "metlog_timer_statsd",
        || {
            black_box(annotated_timer(black_box(7)));
        },
        drain_metlog,
    );
    bench_both(
        &mut group,
        "metlog_client_incr_statsd",
        || client.incr("bench.incr"),
        drain_metlog,
    );
    bench_both(
        &mut group,
        "metlog_client_counter_statsd",
        || client.counter("bench.incr").count(2).rate(1.0).send(),
        drain_metlog,
    );
    bench_both(
        &mut group,
        "metlog_client_timer_statsd",
        // The guard, created and dropped at once: two clock reads.
        || drop(client.timer("bench.timer")),
        drain_metlog,
    );
    bench_both(
        &mut group,
        "metlog_client_timer_send_statsd",
        || client.timer_send("bench.timer", Duration::from_millis(3)),
        drain_metlog,
    );
    // The free functions: the current client (no scoped one here, so the
    // global one).
    bench_both(
        &mut group,
        "metlog_global_incr_statsd",
        || metlog::incr("bench.incr"),
        drain_metlog,
    );
    bench_both(
        &mut group,
        "metlog_global_timer_statsd",
        || drop(metlog::timer("bench.timer")),
        drain_metlog,
    );

    // A name borrowed from a `String` made at run time (neither `'static`
    // nor owned): copied into the queue.
    let name = String::from("bench.incr");
    bench_both(
        &mut group,
        "metlog_client_incr_borrowed_statsd",
        || client.incr(name.as_str()),
        drain_metlog,
    );

    // cadence: queued (as deep as metlog's default queue), buffered UDP.
    // A full queue refuses the metric (an `Err` the caller drops), as
    // metlog's does.
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    let buffered = cadence::BufferedUdpMetricSink::from(sink_addr, socket).unwrap();
    let queued = cadence::QueuingMetricSink::with_capacity(buffered, 65_536);
    let cadence_client = cadence::StatsdClient::from_sink("bench", queued.clone());
    bench_both(
        &mut group,
        "cadence_incr_queued_statsd",
        || {
            let _ = black_box(cadence_client.incr("bench.incr"));
        },
        || {
            while queued.queued() > 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        },
    );

    // One JSON log line, delivered off the caller's thread: metlog's
    // `client.info` with the queued JSON `UdpSender` (to the same discarding
    // socket) ...
    select(1);
    bench_both(
        &mut group,
        "metlog_info_json",
        || client.info("request handled"),
        drain_metlog,
    );
    select(2);
    // ... against `tracing::info!` through tracing-subscriber's JSON
    // formatter onto tracing-appender's non-blocking writer (its worker
    // thread writes into `MarkerSink`, which discards). Lossy mode (the
    // default, spelled out): a full channel drops the line rather than
    // block the caller, as metlog's queue does; the channel is as deep as
    // metlog's queue (65,536 lines; tracing-appender's default is 128,000).
    // Installed as the default for this line only (`with_default`), so the
    // other tracing lines see no subscriber or their own.
    static MARKERS: AtomicU64 = AtomicU64::new(0);
    let (writer, appender_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(65_536)
        .thread_name("bench-tracing-appender")
        .finish(MarkerSink(&MARKERS));
    let dropped = writer.error_counter();
    let json = tracing_subscriber::fmt()
        .json()
        .with_writer(writer)
        .finish();
    tracing::subscriber::with_default(json, || {
        bench_both(
            &mut group,
            "tracing_info_json_nonblocking",
            || tracing::info!("request handled"),
            // tracing-appender tells neither how many lines wait nor when
            // they are written (its writer's `flush` does not wait for the
            // worker), so the drain sends a marker line after the burst
            // and waits until the worker has written it: the channel is
            // FIFO with one worker, so every line before it has been
            // written too. Bounded, in case the marker were dropped.
            || {
                let seen = MARKERS.load(Ordering::Acquire);
                tracing::info!(target: DRAIN_TARGET, "drain");
                let deadline = Instant::now() + Duration::from_secs(2);
                while MARKERS.load(Ordering::Acquire) == seen {
                    if Instant::now() > deadline {
                        eprintln!("tracing-appender drain: no marker after 2 s; going on");
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
            },
        );
    });
    eprintln!(
        "tracing-appender lines dropped (channel full) over the run: {}",
        dropped.dropped_lines()
    );
    // Flushes what is left and joins the worker (tracing-appender bounds
    // that wait itself).
    drop(appender_guard);

    // metrics: a registry-backed recorder, and the statsd exporter.
    let debugging = metrics_util::debugging::DebuggingRecorder::new();
    metrics::with_local_recorder(&debugging, || {
        bench(&mut group, "metrics_counter_registry", || {
            metrics::counter!("bench.incr").increment(1);
        });
    });
    let statsd_recorder =
        metrics_exporter_statsd::StatsdBuilder::from("127.0.0.1", sink_addr.port())
            .build(Some("bench"))
            .unwrap();
    metrics::with_local_recorder(&statsd_recorder, || {
        bench(&mut group, "metrics_counter_statsd", || {
            metrics::counter!("bench.incr").increment(1);
        });
    });

    // tracing with a registry subscriber.
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || {
        bench(&mut group, "tracing_instrument_registry", || {
            black_box(traced(black_box(7)));
        });
    });

    group.finish();
    c.final_summary();
    let stats = client.stats();
    eprintln!("metlog stats after the run: {stats:?}");
}

/// `&'static Switch` as a sender.
struct SwitchRef(&'static Switch);

impl Sender for SwitchRef {
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        self.0.send(record)
    }
    fn flush(&self) -> Result<(), SendError> {
        self.0.flush()
    }
    fn delivery(&self) -> Option<Delivery> {
        self.0.delivery()
    }
}
