//! `metlog::deliver_on_signals`: SIGTERM and SIGINT deliver everything the
//! clients queued, then end the process as the signal would have (its exit
//! status says so); in the child of a `fork()`, the signals act as they
//! would without the call. Each case runs in a child process of this test
//! binary, sending to a TCP listener here.

#![allow(unsafe_code)] // kill, fork, waitpid, _exit

use crate::support;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use metlog::sender::{QueueConfig, SenderOptions, TcpSender};

const MESSAGES: usize = 20_000;

/// The child's side: queue `MESSAGES` through the global client, then
/// receive `signal` (sent to itself) and wait to be ended by it.
fn child(signal: libc::c_int) -> ! {
    metlog::deliver_on_signals().unwrap();
    // A second call changes nothing.
    metlog::deliver_on_signals().unwrap();
    let addr = std::env::var("METLOG_TEST_ADDR").unwrap();
    let queue = QueueConfig::default().flush_timeout(Duration::from_secs(4));
    let options = SenderOptions::default().queue(queue).backlog(100_000);
    let sender = TcpSender::with_options(addr.as_str(), options).unwrap();
    let client = metlog::Client::builder("signalled").sender(sender).build();
    metlog::set_global_client(client).unwrap();
    for _ in 0..MESSAGES {
        metlog::incr("at.signal");
    }
    // SAFETY: `kill` to this process's own id has no precondition.
    unsafe { libc::kill(libc::getpid(), signal) };
    // A service going on with its work until the signal's effect ends it.
    loop {
        std::thread::park();
    }
}

fn child_signal() -> Option<libc::c_int> {
    std::env::var("METLOG_TEST_SIGNAL")
        .ok()
        .map(|s| s.parse().unwrap())
}

/// Runs `test` as a child ending on `signal`; how it ended and how many
/// lines the listener read.
fn run(test: &str, signal: libc::c_int) -> (Output, usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let reader = std::thread::spawn(move || {
        let Ok((conn, _)) = listener.accept() else {
            return 0;
        };
        BufReader::new(conn).lines().map_while(Result::ok).count()
    });
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("METLOG_TEST_SIGNAL", signal.to_string())
        .env("METLOG_TEST_ADDR", addr)
        .output()
        .unwrap();
    (output, reader.join().unwrap())
}

fn everything_arrives_then_the_signal_ends_it(test: &str, signal: libc::c_int) {
    let (output, received) = run(test, signal);
    assert_eq!(
        output.status.signal(),
        Some(signal),
        "ended by the signal: {output:?}"
    );
    assert_eq!(received, MESSAGES, "{output:?}");
}

#[test]
fn sigterm_delivers_everything_queued_then_ends_the_process() {
    if let Some(signal) = child_signal() {
        child(signal);
    }
    everything_arrives_then_the_signal_ends_it(
        &support::test_name!(sigterm_delivers_everything_queued_then_ends_the_process),
        libc::SIGTERM,
    );
}

#[test]
fn sigint_delivers_everything_queued_then_ends_the_process() {
    if let Some(signal) = child_signal() {
        child(signal);
    }
    everything_arrives_then_the_signal_ends_it(
        &support::test_name!(sigint_delivers_everything_queued_then_ends_the_process),
        libc::SIGINT,
    );
}

/// A second signal while the delivery waits (here for a peer that is not
/// there, up to its 60 s flush timeout) ends the process at once, before
/// the delivery could report what it lost.
#[test]
fn a_second_signal_ends_the_process_at_once() {
    if std::env::var_os("METLOG_TEST_TWICE").is_some() {
        metlog::deliver_on_signals().unwrap();
        let nobody = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let queue = QueueConfig::default().flush_timeout(Duration::from_secs(60));
        let options = SenderOptions::default().queue(queue);
        let sender = TcpSender::with_options(nobody, options).unwrap();
        let client = metlog::Client::builder("twice").sender(sender).build();
        metlog::set_global_client(client).unwrap();
        metlog::incr("never.delivered");
        // `raise` returns once the handler has run: the first signal is
        // taken before the second is sent.
        unsafe {
            libc::raise(libc::SIGTERM);
            libc::raise(libc::SIGTERM);
        }
        loop {
            std::thread::park();
        }
    }
    let test = support::test_name!(a_second_signal_ends_the_process_at_once);
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .env("METLOG_TEST_TWICE", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.signal(), Some(libc::SIGTERM), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("lost"),
        "ended before the delivery gave up: {stderr}"
    );
}

/// The child of a fork has no delivery thread: SIGTERM ends it at once, as
/// without the call (it would otherwise wait for a thread that is not
/// there, for ever).
#[test]
fn in_the_child_of_a_fork_sigterm_ends_it_at_once() {
    // In a child process of its own: the call changes how the whole
    // process takes SIGTERM and SIGINT.
    if std::env::var_os("METLOG_TEST_FORK").is_none() {
        let test = support::test_name!(in_the_child_of_a_fork_sigterm_ends_it_at_once);
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &test, "--nocapture", "--test-threads=1"])
            .env("METLOG_TEST_FORK", "1")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        return;
    }
    metlog::deliver_on_signals().unwrap();
    // SAFETY: the child only calls async-signal-safe functions (`kill`,
    // `getpid`, `nanosleep`, `_exit`) before it ends.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        unsafe {
            libc::kill(libc::getpid(), libc::SIGTERM);
            // Still alive: the signal was swallowed. Bounded, so a broken
            // build fails rather than hangs.
            libc::sleep(20);
            libc::_exit(99);
        }
    }
    let mut status = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // SAFETY: waits for our own child, into a local.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        assert!(Instant::now() < deadline, "the child never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGTERM,
        "ended by SIGTERM, not {status:#x} (99: the signal was swallowed)"
    );
}

/// The child's side of the overlap tests: queue `count` lines of 20 kB
/// to the TCP peer at `METLOG_TEST_ADDR`, with a queue and backlog that hold
/// them all. Few, large lines: more bytes than socket buffers hold, yet
/// little work per line, so that a busy machine still delivers them well
/// within the exit's 5 s.
fn queue_many(count: usize) {
    metlog::deliver_on_signals().unwrap();
    let addr = std::env::var("METLOG_TEST_ADDR").unwrap();
    let queue = QueueConfig::default()
        .capacity(count * 2)
        .max_bytes(128 << 20)
        .flush_timeout(Duration::from_secs(4));
    let options = SenderOptions::default().queue(queue).backlog(count * 2);
    let sender = TcpSender::with_options(addr.as_str(), options).unwrap();
    metlog::set_global_client(metlog::Client::builder("overlap").sender(sender).build()).unwrap();
    let padding = "y".repeat(20_000);
    for i in 0..count {
        metlog::global_client()
            .unwrap()
            .info(format!("m{i} {padding}"));
    }
}

/// Reads the peer's lines: how many, and whether each is whole JSON.
fn read_lines(conn: std::net::TcpStream) -> (usize, usize) {
    let mut whole = 0;
    let mut cut = 0;
    for line in BufReader::new(conn).lines().map_while(Result::ok) {
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(_) => whole += 1,
            Err(_) => cut += 1,
        }
    }
    (whole, cut)
}

/// A signal whose delivery is under way when `main` returns: the exit
/// waits for that delivery instead of ending the process under it (it lost
/// messages unsaid and left the peer a cut line); the signal still ends
/// the process.
#[test]
fn main_returning_during_a_signals_delivery_waits_for_it() {
    const COUNT: usize = 1_000;
    if std::env::var_os("METLOG_TEST_OVERLAP").is_some() {
        queue_many(COUNT);
        // SAFETY: `raise` has no precondition.
        unsafe { libc::raise(libc::SIGTERM) };
        // `main` returns while the signal's delivery runs.
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let reader = std::thread::spawn(move || listener.accept().map(|(c, _)| read_lines(c)));
    let test = support::test_name!(main_returning_during_a_signals_delivery_waits_for_it);
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .env("METLOG_TEST_OVERLAP", "1")
        .env("METLOG_TEST_ADDR", addr)
        .output()
        .unwrap();
    let (whole, cut) = reader.join().unwrap().unwrap();
    assert_eq!((whole, cut), (COUNT, 0), "{output:?}");
    // Ended by the signal (or, had the exit begun first, by the exit).
    assert!(
        matches!(output.status.signal(), Some(libc::SIGTERM)) || output.status.success(),
        "{output:?}"
    );
}

/// SIGTERM while the exit's own delivery runs (`main` has returned, the
/// peer is still reading): that delivery finishes; nothing is cut or lost.
#[test]
fn a_signal_during_the_exits_delivery_lets_it_finish() {
    // 24 MB: more than loopback's socket buffers hold (about 10 MB), and
    // little enough to deliver well within the exit's 5 s on a busy machine.
    const COUNT: usize = 1_200;
    if std::env::var_os("METLOG_TEST_OVERLAP").is_some() {
        queue_many(COUNT);
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let test = support::test_name!(a_signal_during_the_exits_delivery_lets_it_finish);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .env("METLOG_TEST_OVERLAP", "1")
        .env("METLOG_TEST_ADDR", addr)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let mut lines = BufReader::new(conn).lines().map_while(Result::ok);
    // 24 MB cannot all sit in socket buffers: after this many lines the
    // child is still delivering, whichever of its threads began.
    let mut whole = lines.by_ref().take(100).count();
    // SAFETY: `kill` of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let mut cut = 0;
    for line in lines {
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(_) => whole += 1,
            Err(_) => cut += 1,
        }
    }
    let status = child.wait().unwrap();
    assert_eq!((whole, cut), (COUNT, 0), "{status:?}");
}

/// A fork's child that calls `deliver_on_signals` again gets a delivery
/// thread of its own: its queue is delivered on SIGTERM, then SIGTERM ends
/// it (the parent's call alone would end it at once).
#[test]
fn a_forks_child_that_calls_it_again_delivers() {
    const COUNT: usize = 1_000;
    if std::env::var_os("METLOG_TEST_FORK_AGAIN").is_some() {
        metlog::deliver_on_signals().unwrap();
        // SAFETY: the child runs Rust code after a fork of this process,
        // as the fork tests do; it ends by a signal or `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            metlog::deliver_on_signals().unwrap();
            let addr = std::env::var("METLOG_TEST_ADDR").unwrap();
            let sender = TcpSender::new(addr.as_str()).unwrap();
            let client = metlog::Client::builder("child").sender(sender).build();
            metlog::set_global_client(client).unwrap();
            for _ in 0..COUNT {
                metlog::incr("from.the.child");
            }
            unsafe {
                libc::raise(libc::SIGTERM);
                libc::sleep(20);
                libc::_exit(99);
            }
        }
        let mut status = 0;
        // SAFETY: waits for our own child, into a local.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let by_sigterm = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGTERM;
        unsafe { libc::_exit(if by_sigterm { 0 } else { 1 }) };
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let reader = std::thread::spawn(move || listener.accept().map(|(c, _)| read_lines(c)));
    let test = support::test_name!(a_forks_child_that_calls_it_again_delivers);
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .env("METLOG_TEST_FORK_AGAIN", "1")
        .env("METLOG_TEST_ADDR", addr)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the fork's child ended by SIGTERM: {output:?}"
    );
    assert_eq!(reader.join().unwrap().unwrap(), (COUNT, 0), "{output:?}");
}
