//! Caller-thread cost per call, side by side: floors, metlog, and the
//! crates a Rust user would otherwise pick (cadence, metrics, tracing).
//!
//! ```text
//! cargo bench -p metlog-benches --bench peers && python3 scripts/bench_ratios.py peers empty_fn
//! ```
//!
//! Every line measures what the *calling* thread pays; delivery happens on
//! background threads (metlog's worker, cadence's queue thread, the metrics
//! statsd exporter's). A UDP socket on 127.0.0.1 receives (and discards)
//! whatever is sent. See BENCHMARKS.md for what each line means.

use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cadence::prelude::*;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use metlog::__private::{ClientDefaults, SiteEvent};
use metlog::sender::{Delivery, NullSender, SendError, Sender, StatsdSender, UdpSender};
use metlog::{Client, Message};

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
    fn send(&self, message: Message) -> Result<(), SendError> {
        self.senders[self.active.load(Ordering::Relaxed)].send(message)
    }
    // Forwarded like the crate's own wrappers do, so annotated functions'
    // events reach the background senders unbuilt, as they would without
    // the switch.
    fn send_site(&self, event: SiteEvent, client: &ClientDefaults<'_>) -> Result<(), SendError> {
        self.senders[self.active.load(Ordering::Relaxed)].send_site(event, client)
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
        "metlog_incr_udp_json",
        || {
            black_box(annotated_incr(black_box(7)));
        },
        drain_metlog,
    );
    select(2);
    bench_bursts(
        &mut group,
        "metlog_incr_statsd",
        || {
            black_box(annotated_incr(black_box(7)));
        },
        drain_metlog,
    );
    bench_bursts(
        &mut group,
        "metlog_timer_statsd",
        || {
            black_box(annotated_timer(black_box(7)));
        },
        drain_metlog,
    );
    bench_bursts(
        &mut group,
        "metlog_client_incr_statsd",
        || client.incr("bench.incr"),
        drain_metlog,
    );

    // cadence: queued (as deep as metlog's default queue), buffered UDP.
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    let buffered = cadence::BufferedUdpMetricSink::from(sink_addr, socket).unwrap();
    let queued = cadence::QueuingMetricSink::with_capacity(buffered, 65_536);
    let cadence_client = cadence::StatsdClient::from_sink("bench", queued.clone());
    bench_bursts(
        &mut group,
        "cadence_incr_queued",
        || {
            let _ = black_box(cadence_client.incr("bench.incr"));
        },
        || {
            while queued.queued() > 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        },
    );

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
    fn send(&self, message: Message) -> Result<(), SendError> {
        self.0.send(message)
    }
    fn send_site(&self, event: SiteEvent, client: &ClientDefaults<'_>) -> Result<(), SendError> {
        self.0.send_site(event, client)
    }
    fn flush(&self) -> Result<(), SendError> {
        self.0.flush()
    }
    fn delivery(&self) -> Option<Delivery> {
        self.0.delivery()
    }
}
