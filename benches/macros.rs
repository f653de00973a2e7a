//! Caller-thread cost of an annotated call, next to an empty function call.
//!
//! ```text
//! cargo bench -p metlog-benches --bench macros && python3 scripts/bench_ratios.py macros
//! ```
//!
//! Lines, in one run: `empty_fn` (the floor: an `#[inline(never)]` function
//! with the same body), the same function annotated with no client
//! installed, with its timer disabled on the client, sampled out
//! (`rate = 0.001`: 999 calls in 1000 are), and enabled `#[metlog::incr]` /
//! `#[metlog::timer]` with a `NullSender` (the full message is built and dispatched, nothing is
//! transmitted).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use metlog::sender::NullSender;
use metlog::Client;

#[inline(never)]
fn empty_fn(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[metlog::timer("bench.no_client")]
fn no_client(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[metlog::timer("bench.disabled")]
fn disabled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[metlog::timer("bench.sampled_out", rate = 0.001)]
fn sampled_out(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[metlog::incr("bench.incr")]
fn enabled_incr(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
#[metlog::timer("bench.timer")]
fn enabled_timer(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

fn bench(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, f: fn(u64) -> u64) {
    group.bench_function(id, |b| b.iter(|| f(black_box(7))));
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args();
    let mut group = c.benchmark_group("macros");

    bench(&mut group, "empty_fn", empty_fn);
    // Before any client exists.
    bench(&mut group, "no_client", no_client);

    let client = Client::builder("bench")
        .sender(NullSender)
        .disabled_timers(["bench.disabled"])
        .build();
    metlog::set_global_client(client).expect("first and only global client");

    bench(&mut group, "disabled", disabled);
    bench(&mut group, "sampled_out", sampled_out);
    bench(&mut group, "enabled_incr_null", enabled_incr);
    bench(&mut group, "enabled_timer_null", enabled_timer);
    group.finish();
    c.final_summary();
}
