//! What the global and named clients queued is delivered when the process
//! ends — returning from `main`, `std::process::exit`, a panic — with no
//! flush guard; what cannot be is reported on stderr. Each case runs in a
//! child process of this test binary, sending to a TCP listener here.

use crate::support;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::Duration;

use metlog::sender::{
    Batch, Outcome, QueueConfig, QueuedSender, SenderOptions, TcpSender, Transport,
};

const MESSAGES: usize = 20_000;

/// The child's side: configure, send, and leave the way `mode` says.
fn child(mode: &str) {
    let addr = std::env::var("METLOG_TEST_ADDR").unwrap();
    let queue = QueueConfig::default().flush_timeout(Duration::from_millis(800));
    let sender = TcpSender::with_options(
        addr.as_str(),
        SenderOptions::default().queue(queue).backlog(100_000),
    )
    .unwrap();
    let client = metlog::Client::builder("exiting").sender(sender).build();
    if mode == "local" {
        // A client of `main`'s own, never dropped: `exit` skips destructors.
        for _ in 0..MESSAGES {
            client.incr("at.exit");
        }
        std::process::exit(0);
    }
    if mode == "large" {
        // 20 MB, more than the socket buffers of a peer that stops reading.
        let text = "x".repeat(1_000);
        for _ in 0..MESSAGES {
            client.info(text.as_str());
        }
        std::process::exit(0);
    }
    if mode == "dropped" {
        // Dropped as `main` ends: the drop does not wait, its worker drains.
        for _ in 0..MESSAGES {
            client.incr("at.exit");
        }
        drop(client);
        return;
    }
    if mode == "named" {
        metlog::set_client("db", client);
        for _ in 0..MESSAGES {
            metlog::get_client("db").incr("at.exit");
        }
        return;
    }
    metlog::set_global_client(client).unwrap();
    for _ in 0..MESSAGES {
        metlog::incr("at.exit");
    }
    match mode {
        "exit" => std::process::exit(0),
        "panic" => panic!("the program fails after sending"),
        _ => {}
    }
}

/// The peer a child sends to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Reads every line.
    Reads,
    /// Nobody listens: connecting is refused.
    Refuses,
    /// Takes the connection, then never reads.
    NeverReads,
    /// A listener whose queue of connections is full: a connect hangs
    /// unanswered.
    NeverAnswers,
}

/// Runs this binary's `test` as a child in `mode`, sending to `peer`; what
/// the child printed, and how many lines the peer read.
fn run(test: &str, mode: &str, peer: Peer) -> (Output, usize) {
    match peer {
        Peer::Reads => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let reader = std::thread::spawn(move || {
                let Ok((conn, _)) = listener.accept() else {
                    return 0;
                };
                BufReader::new(conn).lines().map_while(Result::ok).count()
            });
            let output = spawn(test, mode, &addr);
            (output, reader.join().unwrap())
        }
        Peer::Refuses => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            drop(listener);
            (spawn(test, mode, &addr), 0)
        }
        Peer::NeverReads => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            // Accepted by the kernel, held here unread until the child ends.
            let output = spawn(test, mode, &addr);
            drop(listener);
            (output, 0)
        }
        Peer::NeverAnswers => {
            use socket2::{Domain, Socket, Type};
            let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            listener
                .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
                .unwrap();
            listener.listen(0).unwrap();
            let addr = listener.local_addr().unwrap().as_socket().unwrap();
            // Connections no one accepts fill its queue, until one is
            // left unanswered: every connect after hangs as well.
            let mut queued = Vec::new();
            loop {
                assert!(queued.len() < 16, "the queue of connections never filled");
                match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                    Ok(stream) => queued.push(stream),
                    Err(_) => break,
                }
            }
            let output = spawn(test, mode, &addr.to_string());
            drop((listener, queued));
            (output, 0)
        }
    }
}

fn spawn(test: &str, mode: &str, addr: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("METLOG_TEST_CHILD", mode)
        .env("METLOG_TEST_ADDR", addr)
        .output()
        .unwrap()
}

fn child_mode() -> Option<String> {
    std::env::var("METLOG_TEST_CHILD").ok()
}

#[test]
fn returning_from_main_delivers_everything_queued() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    everything_arrives(
        &support::test_name!(returning_from_main_delivers_everything_queued),
        "return",
    );
}

#[test]
fn process_exit_delivers_everything_queued() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    everything_arrives(
        &support::test_name!(process_exit_delivers_everything_queued),
        "exit",
    );
}

#[test]
fn a_panic_delivers_everything_queued() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    let (output, received) = run(
        &support::test_name!(a_panic_delivers_everything_queued),
        "panic",
        Peer::Reads,
    );
    assert!(!output.status.success(), "the child panicked");
    assert_eq!(received, MESSAGES);
}

/// A client dropped just before `main` returns: its drop does not wait for
/// the drain, and the exit waits for the worker draining it instead.
#[test]
fn a_client_dropped_as_main_ends_is_delivered_too() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    everything_arrives(
        &support::test_name!(a_client_dropped_as_main_ends_is_delivered_too),
        "dropped",
    );
}

#[test]
fn named_clients_are_delivered_too() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    everything_arrives(
        &support::test_name!(named_clients_are_delivered_too),
        "named",
    );
}

/// Runs the child in `mode`, which succeeds; the listener got every message.
fn everything_arrives(test: &str, mode: &str) {
    let (output, received) = run(test, mode, Peer::Reads);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(received, MESSAGES);
}

/// Nobody listening: the messages cannot be delivered before the flush
/// timeout, and stderr says so once, with the count — not silence.
#[test]
fn what_cannot_be_delivered_at_exit_is_reported() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    let report = the_one_exit_report(
        &support::test_name!(what_cannot_be_delivered_at_exit_is_reported),
        "return",
        Peer::Refuses,
    );
    assert!(report.contains("message(s) waiting"), "{report}");
    assert!(report.contains("those messages are lost"), "{report}");
}

/// Runs the child in `mode`, sending to `peer`, which takes nothing; the
/// one report at exit it must make.
fn the_one_exit_report(test: &str, mode: &str, peer: Peer) -> String {
    let (output, _) = run(test, mode, peer);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("metlog: at exit"))
        .collect();
    assert_eq!(reports.len(), 1, "{stderr}");
    reports[0].to_owned()
}

#[test]
fn a_local_client_left_behind_by_process_exit_is_delivered_too() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    everything_arrives(
        &support::test_name!(a_local_client_left_behind_by_process_exit_is_delivered_too),
        "local",
    );
}

/// Nobody listening, a local client, `process::exit`: reported once, with
/// the sender's name.
#[test]
fn what_a_local_client_cannot_deliver_at_exit_is_reported() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    let report = the_one_exit_report(
        &support::test_name!(what_a_local_client_cannot_deliver_at_exit_is_reported),
        "local",
        Peer::Refuses,
    );
    assert!(report.contains("sender tcp"), "{report}");
    assert!(report.contains("message(s) waiting"), "{report}");
}

/// A peer that takes the connection and stops reading: the exit's last
/// write waits no longer than the exit's time, and the loss is reported
/// once (the write, given its usual 2 s, outlasted the exit, which said a
/// sender was still writing — every time).
#[test]
fn a_peer_that_stops_reading_holds_the_exit_no_longer_than_its_time() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    let report = the_one_exit_report(
        &support::test_name!(a_peer_that_stops_reading_holds_the_exit_no_longer_than_its_time),
        "large",
        Peer::NeverReads,
    );
    assert!(report.contains("message(s) waiting"), "{report}");
}

/// A peer whose connects hang unanswered: no connect outlasts the exit's
/// time (one given its usual second did, and the exit said a sender was
/// still writing).
#[test]
fn a_peer_that_never_answers_holds_the_exit_no_longer_than_its_time() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    let report = the_one_exit_report(
        &support::test_name!(a_peer_that_never_answers_holds_the_exit_no_longer_than_its_time),
        "local",
        Peer::NeverAnswers,
    );
    assert!(report.contains("message(s) waiting"), "{report}");
}

/// Sending threads that never stop, and a thread that ends the process:
/// `sender` gets them.
fn send_until_exit(sender: impl metlog::sender::Sender) -> ! {
    let client = metlog::Client::builder("busy").sender(sender).build();
    let text = "x".repeat(10);
    for _ in 0..3 {
        let (client, text) = (client.clone(), text.clone());
        std::thread::spawn(move || loop {
            client.info(text.as_str());
        });
    }
    std::thread::sleep(Duration::from_millis(300));
    std::thread::spawn(|| std::process::exit(0)).join().unwrap();
    unreachable!("the process has exited")
}

/// A transport that writes `B`, then a line per message (slowly), then `E`
/// for each batch, to a file: a batch begun and never ended was cut off by
/// the end of the process.
struct Marking(std::fs::File);

impl Transport for Marking {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        use std::io::Write;
        let _ = self.0.write_all(b"B\n");
        for _ in batch.iter() {
            let _ = self.0.write_all(b"m\n");
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = self.0.write_all(b"E\n");
        outcome.delivered(batch.len());
    }
}

/// After the exit's flush, a worker whose queue other threads keep filling
/// starts no new batch (and the exit waits for the one it is in): the
/// transport is never stopped half-way.
#[test]
fn exit_never_stops_a_transport_half_way_through_a_batch() {
    if std::env::var("METLOG_TEST_CHILD").is_ok() {
        let path = std::env::var("METLOG_TEST_ADDR").unwrap();
        let file = std::fs::File::create(path).unwrap();
        let queue = QueueConfig::default().capacity(500).max_batch(100);
        let sender = QueuedSender::new("marking", Marking(file), queue).unwrap();
        send_until_exit(sender);
    }
    let dir = std::env::temp_dir().join(format!("metlog-exit-marks-{}", std::process::id()));
    for run in 0..3 {
        let path = dir.with_extension(run.to_string());
        let output = spawn(
            &support::test_name!(exit_never_stops_a_transport_half_way_through_a_batch),
            "marks",
            path.to_str().unwrap(),
        );
        assert!(output.status.success(), "{output:?}");
        let marks = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let begun = marks.lines().filter(|l| *l == "B").count();
        let ended = marks.lines().filter(|l| *l == "E").count();
        assert!(begun > 0);
        assert_eq!(begun, ended, "a batch was cut off by the exit");
        assert!(marks.ends_with("E\n"));
    }
}

/// An exit handler of the program's, registered before the client was set,
/// runs after metlog's delivery at exit: what it sends cannot leave. It is
/// refused, counted and reported — not queued to vanish in silence.
#[test]
fn what_is_sent_after_the_delivery_at_exit_is_reported() {
    extern "C" fn late_handler() {
        for _ in 0..100 {
            metlog::incr("too.late");
        }
    }
    if std::env::var("METLOG_TEST_CHILD").is_ok() {
        #[allow(unsafe_code)]
        // SAFETY: registering an `extern "C" fn()` that does not unwind
        // (metlog's calls never panic into the caller).
        unsafe {
            libc::atexit(late_handler);
        }
        let addr = std::env::var("METLOG_TEST_ADDR").unwrap();
        let client = metlog::Client::builder("late")
            .sender(TcpSender::new(addr.as_str()).unwrap())
            .build();
        metlog::set_global_client(client).unwrap();
        for _ in 0..10 {
            metlog::incr("in.time");
        }
        return;
    }
    let (output, received) = run(
        &support::test_name!(what_is_sent_after_the_delivery_at_exit_is_reported),
        "late",
        Peer::Reads,
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(received, 10);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("metlog:"))
        .collect();
    assert_eq!(reports.len(), 1, "{stderr}");
    assert!(
        reports[0].contains("after metlog's delivery at exit"),
        "{stderr}"
    );
}

/// Threads flood a global client until the process ends: at the end, no
/// message is left counted queued — each was delivered, or refused or
/// failed and reported. (Messages accepted while the exit's last flush ran
/// once stayed queued for ever, unreported.)
#[test]
fn nothing_is_left_queued_after_the_exit() {
    extern "C" fn print_stats() {
        if let Some(client) = metlog::global_client() {
            let stats = client.stats();
            eprintln!(
                "final: queued={} sent={} failed={} produced={}",
                stats.queued,
                stats.sent,
                stats.failed,
                stats.produced()
            );
        }
    }
    if std::env::var("METLOG_TEST_CHILD").is_ok() {
        #[allow(unsafe_code)]
        // SAFETY: registering an `extern "C" fn()` that does not unwind; it
        // runs after metlog's exit work (registered later, run earlier).
        unsafe {
            libc::atexit(print_stats);
        }
        let addr = std::env::var("METLOG_TEST_ADDR").unwrap();
        let client = metlog::Client::builder("flood")
            .sender(TcpSender::new(addr.as_str()).unwrap())
            .build();
        metlog::set_global_client(client).unwrap();
        for _ in 0..3 {
            std::thread::spawn(|| loop {
                for _ in 0..1_000 {
                    metlog::incr("flood");
                }
                // Busy, not starving the worker of the machine's cores.
                std::thread::sleep(Duration::from_micros(200));
            });
        }
        std::thread::sleep(Duration::from_millis(200));
        return;
    }
    let (output, received) = run(
        &support::test_name!(nothing_is_left_queued_after_the_exit),
        "flood",
        Peer::Reads,
    );
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .find(|l| l.starts_with("final:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let field = |name: &str| -> usize {
        last.split(&format!("{name}="))
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {last}"))
    };
    // Whatever is still counted queued was reported lost, with its count
    // (the exit's budget may not suffice for a flood on a busy machine).
    let queued = field("queued");
    if queued > 0 {
        let reported: usize = stderr
            .lines()
            .filter_map(|l| l.split("still had ").nth(1))
            .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
            .sum();
        assert!(
            reported >= queued,
            "{queued} queued, {reported} reported lost:\n{stderr}"
        );
    }
    let sent: usize = last
        .split("sent=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(received, sent, "{last}");
    if !last.contains("failed=0 ") {
        assert!(
            stderr.contains("not delivered"),
            "failures are reported: {stderr}"
        );
    }
}

/// Holds every batch far longer than any timeout (a worker stuck in a DNS
/// lookup that never answers, or a write to a peer that never reads).
struct Stuck;

impl Transport for Stuck {
    fn deliver(&mut self, _batch: &Batch<'_>, _outcome: &Outcome) {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// A sender dropped while its worker is stuck waits its own drain time; the
/// process's exit then does not wait for that worker a second time (it
/// spent its 5 s budget on it, and said a line might be cut).
#[test]
fn a_worker_its_sender_gave_up_on_does_not_hold_the_exit() {
    if child_mode().is_some() {
        let queue = QueueConfig::default()
            .flush_timeout(Duration::from_millis(200))
            .drain_timeout(Duration::from_millis(200));
        let client = metlog::Client::builder("stuck")
            .sender(QueuedSender::new("stuck", Stuck, queue).unwrap())
            .build();
        client.incr("held");
        drop(client);
        return;
    }
    let started = std::time::Instant::now();
    let output = spawn(
        &support::test_name!(a_worker_its_sender_gave_up_on_does_not_hold_the_exit),
        "stuck",
        "",
    );
    let took = started.elapsed();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("still writing"), "{stderr}");
    // The drop's 0.4 s, and not the exit's 5 s budget on top.
    assert!(took < Duration::from_secs(4), "{took:?}: {stderr}");
}

/// Never finishes a batch.
struct Forever;

impl Transport for Forever {
    fn deliver(&mut self, _batch: &Batch<'_>, _outcome: &Outcome) {
        std::thread::sleep(Duration::from_secs(3_600));
    }
}

/// When a stuck sender has used up the exit's time, a client whose sender
/// delivered everything is not reported as having lost messages (attack
/// finding: every client left was reported lost once the time ran out).
#[test]
fn a_client_with_nothing_waiting_is_not_reported_lost_when_the_exit_runs_out_of_time() {
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("stuck-and-ok") {
        let stuck = QueuedSender::new("forever", Forever, QueueConfig::default()).unwrap();
        let global = metlog::Client::builder("g").sender(stuck).build();
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp = metlog::sender::UdpSender::new(receiver.local_addr().unwrap()).unwrap();
        let ok = metlog::Client::builder("ok").sender(udp).build();
        metlog::set_global_client(global.clone()).unwrap();
        metlog::set_client("ok", ok.clone());
        for _ in 0..100 {
            global.incr("x");
            ok.info("delivered");
        }
        ok.flush();
        std::mem::forget(receiver);
        return;
    }
    let (_, stderr) = support::run_child(
        &support::test_name!(
            a_client_with_nothing_waiting_is_not_reported_lost_when_the_exit_runs_out_of_time
        ),
        "stuck-and-ok",
        &[],
    );
    let reports = support::report_lines(&stderr);
    assert!(
        reports.iter().any(|r| r.contains("client \"g\"")),
        "the stuck client is reported: {stderr}"
    );
    assert!(
        !reports.iter().any(|r| r.contains("client \"ok\"")),
        "the client with nothing waiting is not: {stderr}"
    );
}

/// A flush guard dropped as `main` returns, its TCP peer down, default
/// timeouts: the guard and the exit after it share one 5 s budget (attack
/// finding: the guard waited 5 s, then the exit another 5 s) — and the
/// peer being down is said, with what was lost.
#[test]
fn a_flush_guard_and_the_exit_share_one_budget() {
    if child_mode().as_deref() == Some("guard") {
        let addr = std::env::var("METLOG_TEST_ADDR").unwrap();
        let client = metlog::Client::builder("guarded")
            .sender(TcpSender::new(addr.as_str()).unwrap())
            .build();
        metlog::set_global_client(client.clone()).unwrap();
        let _flush_at_exit = client.flush_guard();
        for _ in 0..25 {
            metlog::incr("at.exit");
        }
        return;
    }
    let started = std::time::Instant::now();
    let (output, _) = run(
        &support::test_name!(a_flush_guard_and_the_exit_share_one_budget),
        "guard",
        Peer::Refuses,
    );
    let took = started.elapsed();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // One 5 s budget (and what a busy machine adds); two would be 10 s.
    assert!(took < Duration::from_secs(8), "took {took:?}: {stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(stderr.contains("those messages are lost"), "{stderr}");
}
