//! `mb` — MetlogBench: blast messages at a metlog router and report what
//! happened (metlog-py's `mb` command).
//!
//! ```text
//! cargo run --release --example mb -- --sender udp --host 127.0.0.1 --port 5565 --duration 5
//! ```
//!
//! Options: `--sender udp|tcp|statsd|syslog-udp|syslog-tcp|zmq` (default
//! udp), `--host` (127.0.0.1), `--port` (5565), `--duration` seconds (5),
//! `--threads` (1), `--kind counter|timer|log` (counter), `--queue`
//! capacity (65536).

use std::time::{Duration, Instant};

use metlog::sender::{
    QueueConfig, Sender, SenderOptions, StatsdSender, SyslogSender, TcpSender, UdpSender,
};
use metlog::Client;

struct Options {
    sender: String,
    host: String,
    port: u16,
    duration: Duration,
    threads: usize,
    kind: String,
    queue: usize,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        sender: "udp".into(),
        host: "127.0.0.1".into(),
        port: 5565,
        duration: Duration::from_secs(5),
        threads: 1,
        kind: "counter".into(),
        queue: 65_536,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--sender" => o.sender = value()?,
            "--host" => o.host = value()?,
            "--port" => o.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--duration" => {
                let secs: f64 = value()?.parse().map_err(|e| format!("--duration: {e}"))?;
                o.duration = Duration::from_secs_f64(secs);
            }
            "--threads" => o.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--kind" => o.kind = value()?,
            "--queue" => o.queue = value()?.parse().map_err(|e| format!("--queue: {e}"))?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn sender(o: &Options) -> Result<Box<dyn Sender>, String> {
    let addr = (o.host.as_str(), o.port);
    let options = SenderOptions::default().queue(QueueConfig::default().capacity(o.queue));
    let err = |e: std::io::Error| format!("{} sender to {}:{}: {e}", o.sender, o.host, o.port);
    Ok(match o.sender.as_str() {
        "udp" => Box::new(UdpSender::with_options(addr, options).map_err(err)?),
        "tcp" => Box::new(TcpSender::with_options(addr, options.backlog(100_000)).map_err(err)?),
        "statsd" => Box::new(StatsdSender::with_options(addr, options.mtu(1432)).map_err(err)?),
        "syslog-udp" => Box::new(SyslogSender::udp(addr, options).map_err(err)?),
        "syslog-tcp" => Box::new(SyslogSender::tcp(addr, options).map_err(err)?),
        #[cfg(feature = "zmq")]
        "zmq" => Box::new(
            metlog::sender::ZmqSender::new([format!("tcp://{}:{}", o.host, o.port)])
                .map_err(err)?,
        ),
        #[cfg(not(feature = "zmq"))]
        "zmq" => return Err("the zmq sender needs `--features zmq`".to_owned()),
        other => return Err(format!("unknown sender {other:?}")),
    })
}

fn main() {
    let options = match parse() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("mb: {e}");
            }
            eprintln!(
                "usage: mb [--sender udp|tcp|statsd|syslog-udp|syslog-tcp|zmq] [--host H] [--port P] \
                 [--duration SECS] [--threads N] [--kind counter|timer|log] [--queue N]"
            );
            std::process::exit(2);
        }
    };
    let sender = match sender(&options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mb: {e}");
            std::process::exit(1);
        }
    };
    let client = Client::builder("mb").sender(sender).build();
    let start = Instant::now();
    let deadline = start + options.duration;
    std::thread::scope(|s| {
        for _ in 0..options.threads.max(1) {
            s.spawn(|| {
                while Instant::now() < deadline {
                    for _ in 0..1_000 {
                        match options.kind.as_str() {
                            "timer" => client.timer_send("mb.timer", Duration::from_millis(12)),
                            "log" => client.info("metlog bench message"),
                            _ => client.incr("mb.counter"),
                        }
                    }
                }
            });
        }
    });
    let produced_in = start.elapsed();
    let flushed = client.flush_timeout(Duration::from_secs(30));
    let total = start.elapsed();
    let stats = client.stats();
    println!(
        "sender:     {} to {}:{}",
        options.sender, options.host, options.port
    );
    println!(
        "produced:   {} in {:.2}s ({:.0}/s)",
        stats.produced(),
        produced_in.as_secs_f64(),
        stats.produced() as f64 / produced_in.as_secs_f64()
    );
    println!(
        "sent:       {} ({:.0}/s until flushed)",
        stats.sent,
        stats.sent as f64 / total.as_secs_f64()
    );
    println!("dropped:    {} (queue full)", stats.dropped);
    println!("failed:     {}", stats.failed);
    println!("queued:     {}", stats.queued);
    if let Err(e) = flushed {
        println!("flush:      {e}");
    }
}
