//! The child of a fork taken while the parent's worker was handing messages
//! to its transport, or while the parent was exiting, is a new process of
//! its own: it exits at once, and its clients work. It once inherited the
//! parent's "a worker is writing" count (its exit waited the whole 5 s for a
//! thread that does not exist there, then reported it) and the parent's
//! "queues closed at exit" (every message refused). Own process (it forks).
#![allow(unsafe_code)] // fork, dup2, _exit

use crate::support::{self, children};

use std::time::{Duration, Instant};

use children::Ended;
use metlog::sender::{Batch, Outcome, QueueConfig, QueuedSender, Transport};
use metlog::Client;

/// Takes its time over every batch: the worker is nearly always inside it.
struct Slow;

impl Transport for Slow {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        std::thread::sleep(Duration::from_millis(50));
        outcome.delivered(batch.len());
    }
}

#[test]
fn a_child_forked_while_a_worker_delivers_exits_at_once() {
    support::in_own_process(
        &support::test_name!(a_child_forked_while_a_worker_delivers_exits_at_once),
        &[],
        || {
            let sender = QueuedSender::new("slow", Slow, QueueConfig::default()).unwrap();
            let client = Client::builder("forked").sender(sender).build();
            metlog::set_global_client(client.clone()).unwrap();
            static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            let busy = std::thread::spawn(move || {
                while !STOP.load(std::sync::atomic::Ordering::Relaxed) {
                    client.incr("busy");
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            std::thread::sleep(Duration::from_millis(100));
            let stderr_file =
                std::env::temp_dir().join(format!("metlog-fork-exit-{}", std::process::id()));
            for _ in 0..3 {
                let file = std::fs::File::create(&stderr_file).unwrap();
                // SAFETY: the child redirects its stderr and exits.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    use std::os::fd::AsRawFd;
                    // SAFETY: duplicating an open descriptor onto stderr.
                    unsafe { libc::dup2(file.as_raw_fd(), 2) };
                    std::process::exit(0);
                }
                let started = Instant::now();
                assert_eq!(
                    children::wait_or_kill(pid, Duration::from_secs(10)),
                    Ended::Exited(0)
                );
                let took = started.elapsed();
                let stderr = std::fs::read_to_string(&stderr_file).unwrap();
                assert!(!stderr.contains("still writing"), "{stderr}");
                // The exit's whole budget is 5 s: waited for nothing, it is spent.
                assert!(
                    took < Duration::from_millis(2_500),
                    "the child took {took:?} to exit"
                );
            }
            let _ = std::fs::remove_file(&stderr_file);
            // Not sending while this process ends (that would be refused, reported).
            STOP.store(true, std::sync::atomic::Ordering::Relaxed);
            busy.join().unwrap();
        },
    );
}

/// Counts what it is handed.
struct Counting;

static COUNTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Transport for Counting {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        COUNTED.fetch_add(batch.len(), std::sync::atomic::Ordering::SeqCst);
        outcome.delivered(batch.len());
    }
}

/// Run after metlog's exit work (registered before the global client was
/// set): forks a child that makes a client of its own and sends.
extern "C" fn fork_at_exit() {
    // SAFETY: the child sends, prints and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let sender = QueuedSender::new("counting", Counting, QueueConfig::default()).unwrap();
        let client = Client::builder("born-at-exit").sender(sender).build();
        for _ in 0..10 {
            client.incr("after.fork");
        }
        client.flush();
        let stats = client.stats();
        println!(
            "child: delivered={} sent={} failed={}",
            COUNTED.load(std::sync::atomic::Ordering::SeqCst),
            stats.sent,
            stats.failed
        );
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) };
    }
    let _ = children::wait_or_kill(pid, Duration::from_secs(10));
}

#[test]
fn a_child_forked_during_the_exit_has_working_clients() {
    if std::env::var("METLOG_TEST_CHILD").is_ok() {
        // SAFETY: registering an `extern "C" fn()` that does not unwind.
        unsafe { libc::atexit(fork_at_exit) };
        let sender = QueuedSender::new("counting", Counting, QueueConfig::default()).unwrap();
        metlog::set_global_client(Client::builder("exiting").sender(sender).build()).unwrap();
        metlog::incr("before.exit");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            support::test_name!(a_child_forked_during_the_exit_has_working_clients).as_str(),
            "--nocapture",
        ])
        .env("METLOG_TEST_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.contains("child: delivered=11 sent=10 failed=0"),
        "{stdout}"
    );
}
