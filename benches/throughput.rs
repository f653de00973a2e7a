//! End to end: messages delivered per second to a receiver on 127.0.0.1,
//! and the fraction lost, for metlog's UDP JSON, TCP NDJSON and statsd
//! senders, cadence's queued statsd sink, and a raw `send_to` loop (the
//! machine's floor for one datagram per message).
//!
//! ```text
//! cargo bench -p metlog-benches --bench throughput            # 3 runs of 1,000,000 messages per line
//! cargo bench -p metlog-benches --bench throughput -- 5 2000000
//! cargo bench -p metlog-benches --bench throughput -- statsd     # only the lines naming statsd
//! ```
//!
//! One producer thread calls as fast as it can for the whole run; the
//! sender's worker delivers; a receiver thread counts what arrives. A line's
//! rate is messages received divided by the time from the first call to the
//! last message received; "lost" is everything produced that never arrived
//! (refused by a full queue, or dropped by the kernel). Prints the median of
//! the runs for each line.

use std::hint::black_box;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cadence::prelude::*;
use metlog::sender::{SenderOptions, StatsdSender, TcpSender, UdpSender};
use metlog::Client;

/// The "burst" lines' message count: fits metlog's and cadence's queues.
const BURST: u64 = 60_000;

/// When the receiver has seen nothing for this long, the run is over.
const QUIET: Duration = Duration::from_millis(300);

#[metlog::incr("bench.throughput")]
fn annotated() {}

/// What one receiver saw.
struct Received {
    count: u64,
    last: Instant,
}

/// Counts what arrives: datagrams, or lines within datagrams or a stream.
struct Receiver {
    addr: SocketAddr,
    handle: JoinHandle<Received>,
}

#[derive(Clone, Copy)]
enum Unit {
    Datagram,
    Line,
}

fn big_receive_buffer(socket: &UdpSocket) {
    // As large as the kernel allows by default (net.core.rmem_max), so the
    // receiver's scheduling hiccups lose as little as possible.
    let _ = socket2::SockRef::from(socket).set_recv_buffer_size(4 << 20);
}

fn udp_receiver(unit: Unit) -> Receiver {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    big_receive_buffer(&socket);
    socket.set_read_timeout(Some(QUIET)).unwrap();
    let addr = socket.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        let mut count = 0;
        let mut last = Instant::now();
        while let Ok(n) = socket.recv(&mut buf) {
            count += match unit {
                Unit::Datagram => 1,
                Unit::Line => buf[..n]
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count() as u64,
            };
            last = Instant::now();
        }
        Received { count, last }
    });
    Receiver { addr, handle }
}

fn tcp_receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(QUIET)).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut count = 0;
        let mut last = Instant::now();
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
            count += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            last = Instant::now();
        }
        Received { count, last }
    });
    Receiver { addr, handle }
}

/// One run's result.
#[derive(Clone, Copy)]
struct Run {
    per_second: f64,
    lost: f64,
}

fn finish(receiver: Receiver, start: Instant, produced: u64) -> Run {
    let received = receiver.handle.join().unwrap();
    let elapsed = received.last.saturating_duration_since(start).as_secs_f64();
    Run {
        per_second: received.count as f64 / elapsed.max(1e-9),
        lost: 1.0 - received.count as f64 / produced as f64,
    }
}

fn metlog_run(
    n: u64,
    rate: Option<f64>,
    receiver: Receiver,
    sender: impl metlog::sender::Sender,
) -> Run {
    let client = Client::builder("bench").sender(sender).build();
    let start = Instant::now();
    let mut pace = Pace::new(rate);
    metlog::with_client(&client, || {
        for _ in 0..n {
            annotated();
            pace.tick();
        }
    });
    let _ = client.flush_timeout(Duration::from_secs(30));
    drop(client);
    finish(receiver, start, n)
}

fn raw_send_to(n: u64, rate: Option<f64>) -> Run {
    let receiver = udp_receiver(Unit::Datagram);
    // The JSON of one counter message, as metlog sends it.
    let payload = metlog::Message::new("counter", "bench").to_json();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    let mut pace = Pace::new(rate);
    for _ in 0..n {
        let _ = black_box(socket.send_to(payload.as_bytes(), receiver.addr));
        pace.tick();
    }
    finish(receiver, start, n)
}

fn metlog_udp(n: u64, rate: Option<f64>) -> Run {
    let receiver = udp_receiver(Unit::Datagram);
    let sender = UdpSender::new(receiver.addr).unwrap();
    metlog_run(n, rate, receiver, sender)
}

fn metlog_tcp(n: u64, rate: Option<f64>) -> Run {
    let receiver = tcp_receiver();
    let sender = TcpSender::new(receiver.addr).unwrap();
    metlog_run(n, rate, receiver, sender)
}

fn metlog_statsd(n: u64, rate: Option<f64>) -> Run {
    let receiver = udp_receiver(Unit::Line);
    let sender =
        StatsdSender::with_options(receiver.addr, SenderOptions::default().mtu(1432)).unwrap();
    metlog_run(n, rate, receiver, sender)
}

fn cadence_statsd(n: u64, rate: Option<f64>) -> Run {
    let receiver = udp_receiver(Unit::Line);
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    // cadence's default buffer is 512 bytes; give it metlog's packing size.
    let buffered =
        cadence::BufferedUdpMetricSink::with_capacity(receiver.addr, socket, 1432).unwrap();
    // As deep as metlog's default queue.
    let queued = cadence::QueuingMetricSink::with_capacity(buffered, 65_536);
    let client = cadence::StatsdClient::from_sink("bench", queued.clone());
    let start = Instant::now();
    let mut pace = Pace::new(rate);
    for _ in 0..n {
        let _ = black_box(client.incr("throughput"));
        pace.tick();
    }
    while queued.queued() > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = client.flush();
    drop(client);
    drop(queued);
    finish(receiver, start, n)
}

/// Holds a producer to an offered rate (messages per second), if any:
/// called after every message, it sleeps once a chunk is ahead of schedule.
struct Pace {
    start: Instant,
    per_second: Option<f64>,
    sent: u64,
}

impl Pace {
    fn new(per_second: Option<f64>) -> Pace {
        Pace {
            start: Instant::now(),
            per_second,
            sent: 0,
        }
    }

    #[inline]
    fn tick(&mut self) {
        self.sent += 1;
        let Some(rate) = self.per_second else { return };
        if self.sent % 1_000 == 0 {
            let due = self.start + Duration::from_secs_f64(self.sent as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut numbers = args.iter().filter_map(|a| a.parse::<u64>().ok());
    let runs = numbers.next().unwrap_or(3).max(1);
    let n = numbers.next().unwrap_or(1_000_000);
    // Any other argument picks the lines whose names contain it.
    let filters: Vec<&String> = args.iter().filter(|a| a.parse::<u64>().is_err()).collect();

    type Line = (&'static str, fn(u64, Option<f64>) -> Run);
    let lines: [Line; 5] = [
        ("udp_raw_send_to", raw_send_to),
        ("metlog_udp_json", metlog_udp),
        ("metlog_tcp_ndjson", metlog_tcp),
        ("metlog_statsd", metlog_statsd),
        ("cadence_statsd_queued", cadence_statsd),
    ];
    println!("{runs} runs of {n} messages per line; medians");
    println!(
        "{:<24} {:>10} {:>14} {:>8}",
        "line", "offered/s", "delivered/s", "lost"
    );
    // As fast as the producer can call, then at fixed offered rates.
    // As fast as the producer can call, at fixed offered rates, and a burst
    // that fits the queue (the producer is done within milliseconds, so
    // the line is the sender's own delivery rate, as the raw loop's is).
    let modes: [(&str, Option<f64>, u64); 4] = [
        ("max", None, n),
        ("1000000", Some(1_000_000.0), n),
        ("3000000", Some(3_000_000.0), n),
        ("burst", None, BURST.min(n)),
    ];
    for (offered, rate, count) in modes {
        for (name, run) in lines {
            if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let results: Vec<Run> = (0..runs).map(|_| run(count, rate)).collect();
            let delivered = median(results.iter().map(|r| r.per_second).collect());
            let lost = median(results.iter().map(|r| r.lost).collect());
            println!(
                "{name:<24} {offered:>10} {delivered:>14.0} {:>7.2}%",
                lost * 100.0
            );
        }
    }
}
