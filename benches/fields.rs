//! Large field counts: building a message with 20,000 fields through the
//! builder, reading a 1 MB JSON envelope whose `fields` has 100,000 keys,
//! and removing 2,000 of 100,000 fields.
//! Both were quadratic (a linear key search per insert: 5.0 s and 94 s);
//! with the index past 16 entries they are linear.
//!
//! ```text
//! cargo bench -p metlog-benches --bench fields
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use metlog::sender::CaptureSender;
use metlog::{Client, Message};

fn main() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let mut group = criterion.benchmark_group("fields");

    let capture = CaptureSender::new();
    let client = Client::builder("bench").sender(capture.clone()).build();
    let pairs: Vec<(String, u64)> = (0..20_000).map(|i| (format!("field{i}"), i)).collect();
    group.bench_function("builder_20000_fields", |b| {
        b.iter(|| {
            client
                .metlog("wide")
                .fields(pairs.iter().map(|(k, v)| (k.clone(), *v)))
                .send();
            capture.clear();
        });
    });

    let fields: Vec<String> = (0..100_000).map(|i| format!("\"key{i:06}\":{i}")).collect();
    let json = format!(
        "{{\"type\":\"wide\",\"timestamp\":\"2026-11-26T00:00:00.000000Z\",\"logger\":\"l\",\
         \"severity\":6,\"payload\":\"\",\"fields\":{{{}}},\"env_version\":\"0.8\",\
         \"metlog_pid\":1,\"metlog_hostname\":\"h\"}}",
        fields.join(",")
    );
    assert!(json.len() > 1_000_000, "a 1 MB envelope");
    group.bench_function("from_json_100000_keys", |b| {
        b.iter(|| black_box(Message::from_json(black_box(&json)).unwrap()));
    });
    let keys: Vec<String> = (0..100_000).map(|i| format!("k{i}")).collect();
    group.bench_function("remove_2000_of_100000_fields", |b| {
        b.iter_batched(
            || {
                keys.iter()
                    .map(|k| (k.clone(), 1))
                    .collect::<metlog::Fields>()
            },
            |mut fields| {
                for key in &keys[..2_000] {
                    black_box(fields.remove(key));
                }
                fields
            },
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
    criterion.final_summary();
}
