//! Process statistics (metlog-psutils): CPU time, memory, threads, open
//! files and I/O of this process, as `gauge` messages.
//!
//! Each statistic is one `gauge` message whose logger is the prefix and
//! whose name is `<hostname>.<pid>.<statistic>`, so the
//! [`StatsdSender`](crate::sender::StatsdSender) turns it into
//! `<prefix>.<hostname>.<pid>.<statistic>:<value>|g`. Read from Linux's
//! `/proc/self`; elsewhere nothing is sent.
//!
//! ```
//! # let capture = metlog::sender::CaptureSender::new();
//! # let client = metlog::Client::builder("app").sender(capture.clone()).build();
//! use metlog::plugin::process;
//! let sent = process::send(&client, "myapp.process");
//! # #[cfg(target_os = "linux")]
//! assert!(sent >= 5);
//! // Or every 10 s until the handle is dropped:
//! let _reporter = process::spawn(client.clone(), "myapp.process", std::time::Duration::from_secs(10));
//! ```

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{Client, SharedStr};

/// One reading of this process's statistics: `(statistic, value)`.
///
/// `cpu_user_seconds`, `cpu_system_seconds`, `rss_bytes`, `threads`,
/// `open_fds`, and when the kernel allows, `io_read_bytes` and
/// `io_write_bytes`.
pub fn collect() -> Vec<(&'static str, f64)> {
    let mut stats = Vec::new();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may hold spaces), from ')'.
        if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 (11 and 12 after ')'),
            // in clock ticks of USER_HZ, which Linux fixes at 100.
            let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
            if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
                stats.push(("cpu_user_seconds", user / 100.0));
                stats.push(("cpu_system_seconds", system / 100.0));
            }
        }
    }
    let status = [
        ("VmRSS:", "rss_bytes", 1024.0),
        ("Threads:", "threads", 1.0),
    ];
    read_keyed("/proc/self/status", status, &mut stats);
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        stats.push(("open_fds", entries.count() as f64));
    }
    let io = [
        ("read_bytes:", "io_read_bytes", 1.0),
        ("write_bytes:", "io_write_bytes", 1.0),
    ];
    read_keyed("/proc/self/io", io, &mut stats);
    stats
}

/// From a file of `key: value` lines, each wanted key's value (times its
/// scale) as its statistic.
fn read_keyed(path: &str, wanted: [(&str, &'static str, f64); 2], stats: &mut Vec<(&str, f64)>) {
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(Ok(value))) = (parts.next(), parts.next().map(str::parse::<f64>))
        else {
            continue;
        };
        if let Some(&(_, stat, scale)) = wanted.iter().find(|w| w.0 == key) {
            stats.push((stat, value * scale));
        }
    }
}

/// Sends one reading through `client` under `prefix`; returns how many
/// statistics were sent.
pub fn send(client: &Client, prefix: &str) -> usize {
    let identity = crate::process::identity();
    // Dots in a host name would split the statsd hierarchy.
    let host = identity.hostname.replace('.', "_");
    let stats = collect();
    for (stat, value) in &stats {
        // The statsd namespace is also `fields.logger`, where metlog-psutils
        // put it: the routers (and `StatsdSender`) key by it, not the
        // envelope's.
        client
            .metlog(SharedStr::from_static("gauge"))
            .logger(prefix)
            .payload(format_value(*value))
            .field("name", format!("{host}.{}.{stat}", identity.pid()))
            .field("rate", 1.0)
            .field("logger", prefix.to_owned())
            .send();
    }
    stats.len()
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.3}")
    }
}

/// Sends a reading every `interval` from a background thread until the
/// returned handle is dropped.
pub fn spawn(client: Client, prefix: impl Into<String>, interval: Duration) -> Reporter {
    let prefix = prefix.into();
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("metlog-process-stats".to_owned())
        .spawn(move || {
            crate::process::mark_own_thread();
            send(&client, &prefix);
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                send(&client, &prefix);
            }
        })
        .ok();
    Reporter {
        stop: Some(stop),
        thread,
    }
}

/// Stops the periodic reports of [`spawn`] when dropped.
#[derive(Debug)]
#[must_use = "the reports stop when this handle is dropped"]
pub struct Reporter {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Reporter {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
