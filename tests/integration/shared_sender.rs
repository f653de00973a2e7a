//! Clients sharing one sender each see their own counts — what a client
//! made and handed on, never what the sender carried for another client
//! (`sent + dropped + failed + ignored = produced`, per client) — and the
//! sender's own counts (`Sender::delivery`) say what became of all of them.

use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;

use crate::support;

use metlog::sender::{
    CaptureSender, NullSender, QueueConfig, Router, Sender, SenderOptions, StatsdSender, TcpSender,
    UdpSender,
};
use metlog::{Client, Stats};

fn client(name: &str, sender: impl metlog::sender::Sender) -> Client {
    Client::builder(name).sender(sender).build()
}

fn calls(client: &Client, n: usize) {
    for i in 0..n {
        client.incr("shared.requests");
        if i % 10 == 0 {
            client.info("a log line");
        }
    }
}

fn assert_counts(stats: Stats, sent: u64, queued: u64) {
    assert_eq!((stats.sent, stats.queued), (sent, queued), "{stats:?}");
    assert_eq!(
        (stats.dropped, stats.failed, stats.ignored),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.produced(), sent + queued);
}

#[test]
fn two_clients_on_one_udp_sender_count_their_own() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = Arc::new(UdpSender::new(receiver.local_addr().unwrap()).unwrap());
    let (a, b) = (client("a", udp.clone()), client("b", udp.clone()));
    calls(&a, 100);
    calls(&b, 300);
    a.flush();
    b.flush();
    assert_counts(a.stats(), 110, 0);
    assert_counts(b.stats(), 330, 0);
    // The sender itself carried both.
    let total = metlog::sender::Sender::delivery(&*udp).unwrap();
    assert_eq!(total.delivered, 440);
}

#[test]
fn waiting_messages_are_counted_for_the_client_that_made_them() {
    // Their loss at shutdown is reported: kept out of the test's output.
    support::collect_reports();
    // A port nobody listens on: everything waits in the TCP backlog.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let queue = QueueConfig::default().drain_timeout(std::time::Duration::from_millis(100));
    let tcp = Arc::new(
        TcpSender::with_options(port, SenderOptions::default().queue(queue).backlog(10_000))
            .unwrap(),
    );
    let (a, b) = (client("a", tcp.clone()), client("b", tcp.clone()));
    calls(&a, 100);
    calls(&b, 300);
    let _ = a.flush_timeout(std::time::Duration::from_millis(200));
    // Each client: what it handed on (a sender shared by two clients cannot
    // say whose of its messages are still waiting) ...
    assert_counts(a.stats(), 110, 0);
    assert_counts(b.stats(), 330, 0);
    // ... and the sender: all of them still waiting.
    let total = tcp.delivery().unwrap();
    assert_eq!((total.queued, total.delivered), (440, 0), "{total:?}");
}

/// A client alone on its sender sees what became of its messages: here,
/// still waiting.
#[test]
fn a_client_alone_on_its_sender_sees_what_is_waiting() {
    support::collect_reports();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let queue = QueueConfig::default().drain_timeout(std::time::Duration::from_millis(100));
    let a = client(
        "a",
        TcpSender::with_options(port, SenderOptions::default().queue(queue).backlog(10_000))
            .unwrap(),
    );
    calls(&a, 100);
    let _ = a.flush_timeout(std::time::Duration::from_millis(200));
    assert_counts(a.stats(), 0, 110);
}

#[test]
fn a_router_with_synchronous_routes_counts_per_client() {
    let logs = CaptureSender::new();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let statsd = StatsdSender::new(receiver.local_addr().unwrap()).unwrap();
    let router = Arc::new(Router::new(logs.clone()).route(["counter"], statsd));
    let (a, b) = (client("a", router.clone()), client("b", router.clone()));
    calls(&a, 100);
    calls(&b, 300);
    a.flush();
    b.flush();
    assert_counts(a.stats(), 110, 0);
    assert_counts(b.stats(), 330, 0);
    assert_eq!(logs.len(), 40);
}

#[test]
fn a_router_of_statsd_and_a_null_sender_counts_per_client() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let statsd = StatsdSender::new(receiver.local_addr().unwrap()).unwrap();
    let statsd = Arc::new(Router::new(NullSender).route(["counter"], statsd));
    let (a, b) = (client("a", statsd.clone()), client("b", statsd.clone()));
    calls(&a, 100);
    calls(&b, 300);
    a.flush();
    b.flush();
    assert_counts(a.stats(), 110, 0);
    assert_counts(b.stats(), 330, 0);
}

#[test]
fn clones_of_a_client_share_its_counts() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = Arc::new(UdpSender::new(receiver.local_addr().unwrap()).unwrap());
    let a = client("a", udp.clone());
    let other = client("other", udp);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let a = a.clone();
            std::thread::spawn(move || calls(&a, 250))
        })
        .collect();
    calls(&other, 10);
    for t in threads {
        t.join().unwrap();
    }
    a.flush();
    assert_counts(a.stats(), 1_100, 0);
    assert_counts(other.stats(), 11, 0);
}

/// A flush waits for the messages sent before it — not for a count: on a
/// sender other threads keep busy, newer messages of theirs settling first
/// must not end it early. After each client's own flush, at least as many
/// messages are settled as the sender had accepted when it began.
#[test]
fn a_flush_waits_for_its_own_messages_not_for_a_count() {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let queue = QueueConfig::default().capacity(2_000);
    let udp = Arc::new(
        UdpSender::with_options(
            sink.local_addr().unwrap(),
            SenderOptions::default().queue(queue),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let udp = udp.clone();
            std::thread::spawn(move || {
                let mut early = Vec::new();
                for _ in 0..40 {
                    let client = client(&format!("c{t}"), udp.clone());
                    for _ in 0..500 {
                        client.incr("y");
                    }
                    let before = udp.delivery().unwrap();
                    let accepted =
                        before.delivered + before.failed + before.dropped + before.queued;
                    let flushed = client.flush_timeout(std::time::Duration::from_secs(5));
                    let after = udp.delivery().unwrap();
                    let settled = after.delivered + after.failed + after.dropped;
                    if flushed.is_ok() && settled < accepted {
                        early.push((accepted, after));
                    }
                }
                early
            })
        })
        .collect();
    let early: Vec<(u64, metlog::sender::Delivery)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        early.is_empty(),
        "{} flushes returned with messages accepted before them still queued, e.g. {:?}",
        early.len(),
        early.first()
    );
}
