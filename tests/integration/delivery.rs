//! Background delivery against receivers in the test: byte-exact UDP
//! datagrams, TCP reconnection and backlog, statsd packing, syslog framing,
//! routing, draining on drop, and exact accounting under overload.

use crate::support;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use metlog::encode::syslog::{Facility, SdFields};
use metlog::sender::{
    CaptureSender, QueueConfig, Router, Sender, SenderOptions, StatsdSender, SyslogSender,
    TcpSender, UdpSender,
};
use metlog::{Client, Message, Stats};

fn udp_listener() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0; 70_000];
    let n = socket.recv(&mut buf).expect("a datagram within 10 s");
    buf.truncate(n);
    buf
}

fn assert_accounted(stats: Stats, produced: u64) {
    assert_eq!(
        stats.produced(),
        produced,
        "every message accounted for: {stats:?}"
    );
}

#[test]
fn udp_sends_byte_exact_json_datagrams() {
    let (socket, addr) = udp_listener();
    let client = Client::builder("udp")
        .sender(UdpSender::new(addr).unwrap())
        .build();
    client.incr("hits");
    client.info("ünïcode \"quoted\"\nline");
    client.flush();
    for expected_kind in ["counter", "oldstyle"] {
        let datagram = recv(&socket);
        let text = std::str::from_utf8(&datagram).unwrap();
        let msg = Message::from_json(text).unwrap();
        assert_eq!(msg.kind, expected_kind);
        // Re-encoding the parsed message gives the very same bytes.
        assert_eq!(msg.to_json().as_bytes(), &datagram[..]);
    }
    let stats = client.stats();
    assert_eq!((stats.sent, stats.queued, stats.failed), (2, 0, 0));
}

#[test]
fn udp_zips_hosts_and_ports_like_metlog_py() {
    let (a, addr_a) = udp_listener();
    let (b, addr_b) = udp_listener();
    let sender = UdpSender::to_hosts(
        ["127.0.0.1", "127.0.0.1"],
        [addr_a.port(), addr_b.port()],
        SenderOptions::default(),
    )
    .unwrap();
    assert_eq!(sender.destinations(), [addr_a, addr_b]);
    let client = Client::builder("udp").sender(sender).build();
    client.incr("both");
    client.flush();
    for socket in [&a, &b] {
        let msg = Message::from_json(std::str::from_utf8(&recv(socket)).unwrap()).unwrap();
        assert_eq!(msg.fields["name"], "both");
    }
    // More hosts than ports: the last port repeats.
    let sender =
        UdpSender::to_hosts(["127.0.0.1", "localhost"], [9], SenderOptions::default()).unwrap();
    assert!(sender.destinations().iter().all(|d| d.port() == 9));
    // A host that does not resolve (yet) is looked up on the worker (see
    // dns.rs); one that never could is refused at once.
    assert!(UdpSender::to_hosts(["no-such-host.invalid"], [9], SenderOptions::default()).is_ok());
    assert!(UdpSender::to_hosts(["no such host"], [9], SenderOptions::default()).is_err());
}

#[test]
fn udp_oversized_message_is_failed_not_truncated() {
    support::collect_reports();
    let (socket, addr) = udp_listener();
    let client = Client::builder("udp")
        .sender(UdpSender::new(addr).unwrap())
        .build();
    client.info("x".repeat(100_000));
    client.incr("after");
    client.flush();
    let msg = Message::from_json(std::str::from_utf8(&recv(&socket)).unwrap()).unwrap();
    assert_eq!(
        msg.fields["name"], "after",
        "the oversized one never went out"
    );
    let stats = client.stats();
    assert_eq!((stats.sent, stats.failed), (1, 1));
    assert_accounted(stats, 2);
    let reports = support::reports();
    assert!(
        reports
            .iter()
            .any(|r| r.contains("100") && r.contains("datagram")),
        "the oversized message is reported: {reports:?}"
    );
}

#[test]
fn dropping_the_client_drains_the_queue() {
    // Over TCP, which loses nothing, so every message must arrive.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        BufReader::new(conn).lines().map_while(Result::ok).count()
    });
    let client = Client::builder("drain")
        .sender(TcpSender::new(addr).unwrap())
        .build();
    for i in 0..500 {
        client.counter("n").count(i).send();
    }
    drop(client); // no flush: the drop drains, then closes the connection
    assert_eq!(reader.join().unwrap(), 500);
}

fn read_lines(conn: &mut impl Read, n: usize) -> Vec<Message> {
    let mut reader = BufReader::new(conn);
    (0..n)
        .map(|_| {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            Message::from_json(line.trim_end()).unwrap_or_else(|e| panic!("{e}: {line:?}"))
        })
        .collect()
}

#[test]
fn tcp_connects_lazily_keeps_a_backlog_and_delivers_after_the_peer_appears() {
    // Reserve a port, then close it: the peer is absent at start.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder("tcp")
        .sender(TcpSender::new(("127.0.0.1", port)).unwrap())
        .build();
    for i in 0..100 {
        client.counter("early").count(i).send();
    }
    assert!(
        client.flush_timeout(Duration::from_millis(300)).is_err(),
        "nobody listens yet"
    );
    let stats = client.stats();
    assert_eq!(stats.queued, 100, "held in the backlog: {stats:?}");

    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    client
        .flush_timeout(Duration::from_secs(10))
        .expect("delivered once the peer is up");
    let (mut conn, _) = listener.accept().unwrap();
    let msgs = read_lines(&mut conn, 100);
    let counts: Vec<String> = msgs.iter().map(|m| m.payload.to_string()).collect();
    assert_eq!(
        counts,
        (0..100).map(|i| i.to_string()).collect::<Vec<_>>(),
        "in order"
    );
    assert_accounted(client.stats(), 100);
    assert_eq!(client.stats().sent, 100);
}

#[test]
fn tcp_reconnects_after_the_peer_dies_and_counts_add_up() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = Client::builder("tcp")
        .sender(TcpSender::new(addr).unwrap())
        .build();
    client.incr("before");
    client.flush();
    let (mut conn, sender_end) = listener.accept().unwrap();
    assert_eq!(read_lines(&mut conn, 1)[0].fields["name"], "before");

    // The peer dies; what is sent next comes after the sender's end of the
    // connection has seen it die (it once waited 100 ms instead).
    drop(conn);
    drop(listener);
    support::wait_until("the sender's end to see the peer close", || {
        !support::tcp_established(sender_end, addr)
    });
    for _ in 0..50 {
        client.incr("while down");
    }
    let _ = client.flush_timeout(Duration::from_millis(300));

    // … and comes back on the same port.
    let listener = TcpListener::bind(addr).unwrap();
    client
        .flush_timeout(Duration::from_secs(10))
        .expect("backlog delivered");
    let (mut conn, _) = listener.accept().unwrap();
    let msgs = read_lines(&mut conn, 50);
    assert!(msgs.iter().all(|m| m.fields["name"] == "while down"));
    let stats = client.stats();
    assert_accounted(stats, 51);
    assert_eq!(stats.sent, 51, "{stats:?}");
}

#[test]
fn a_stalled_peer_never_blocks_the_caller_and_every_drop_is_counted() {
    // A peer that accepts but never reads: socket buffers fill, the worker
    // stalls in write, the queue fills, and further messages are dropped.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = QueueConfig::default()
        .capacity(1_000)
        .drain_timeout(Duration::from_millis(100));
    let client = Client::builder("stall")
        .sender(
            TcpSender::with_options(addr, SenderOptions::default().queue(config).backlog(1_000))
                .unwrap(),
        )
        .build();
    // The peer holds its connection, unread, until the test ends.
    let (_done, until_done) = std::sync::mpsc::channel::<()>();
    let _conn = std::thread::spawn(move || {
        let held = listener.accept();
        let _ = until_done.recv();
        drop(held);
    });
    let big = "x".repeat(1_000);
    let produced = 50_000u64;
    for _ in 0..produced {
        client.info(big.clone());
    }
    // The loop above finished while the peer read nothing: nothing blocked.
    let stats = client.stats();
    assert!(stats.dropped > 0, "{stats:?}");
    assert_accounted(stats, produced);
}

#[test]
fn statsd_lines_are_packed_into_datagrams_up_to_the_mtu() {
    support::collect_reports();
    let (socket, addr) = udp_listener();
    let client = Client::builder("app")
        .sender(StatsdSender::with_options(addr, SenderOptions::default().mtu(100)).unwrap())
        .build();
    client.incr("a");
    // A counter sampled at 0.5 (built directly, so the client does not
    // sample it out here).
    client
        .metlog("counter")
        .payload("5")
        .field("name", "b")
        .field("rate", 0.5)
        .send();
    client.timer_send("t", Duration::from_millis(12));
    client
        .metlog("gauge")
        .payload("42.5")
        .field("name", "g")
        .send();
    client.counter("evil:1|c\nx").send();
    client.info("not a metric");
    client.flush();
    let mut lines = Vec::new();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 2048];
    while let Ok(n) = socket.recv(&mut buf) {
        assert!(n <= 100, "datagram of {n} bytes over the 100-byte MTU");
        lines.extend(
            std::str::from_utf8(&buf[..n])
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
    }
    assert_eq!(
        lines,
        [
            "a:1|c",
            "b:5|c|@0.5",
            "t:12|ms",
            "g:42.5|g",
            "evil_1_c_x:1|c"
        ]
    );
    let stats = client.stats();
    assert_eq!((stats.sent, stats.ignored), (5, 1));
    assert_accounted(stats, 6);
}

#[test]
fn a_router_sends_statsd_its_metrics_and_the_other_types_elsewhere() {
    let (_socket, addr) = udp_listener();
    let logs = CaptureSender::new();
    let statsd = StatsdSender::new(addr).unwrap();
    let client = Client::builder("app")
        .sender(Router::new(logs.clone()).route(["counter", "timer"], statsd))
        .build();
    client.incr("a");
    client.info("to the fallback");
    client.flush();
    assert_eq!(logs.messages()[0].payload, "to the fallback");
    let stats = client.stats();
    assert_eq!((stats.sent, stats.ignored), (2, 0));
}

#[test]
fn syslog_over_udp_is_rfc5424_with_the_envelope_as_msg() {
    let (socket, addr) = udp_listener();
    let config = SenderOptions::default()
        .facility(Facility::Local3)
        .structured_data(SdFields::AllScalars);
    let client = Client::builder("web app")
        .sender(SyslogSender::udp(addr, config).unwrap())
        .build();
    client
        .metlog("audit")
        .severity(metlog::Severity::Warning)
        .field("user", "a\"]\\")
        .payload("p")
        .send();
    client.flush();
    let text = String::from_utf8(recv(&socket)).unwrap();
    // <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
    assert!(text.starts_with("<156>1 "), "{text}"); // local3 (19) * 8 + 4
    let parts: Vec<&str> = text.splitn(7, ' ').collect();
    assert_eq!(parts[3], "web_app");
    assert_eq!(parts[4], std::process::id().to_string());
    assert_eq!(parts[5], "audit");
    assert!(
        parts[6].starts_with(r#"[metlog@32473 user="a\"\]\\"] {"#),
        "{}",
        parts[6]
    );
    let json = &parts[6][parts[6].find("] {").unwrap() + 2..];
    assert_eq!(Message::from_json(json).unwrap().payload, "p");
}

#[test]
fn syslog_over_tcp_uses_octet_counting() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = Client::builder("app")
        .sender(SyslogSender::tcp(addr, SenderOptions::default()).unwrap())
        .build();
    client.info("one");
    client.info("two\nlines");
    client.flush();
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for expected in ["one", "two\nlines"] {
        let mut len = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            conn.read_exact(&mut byte).unwrap();
            if byte[0] == b' ' {
                break;
            }
            len.push(byte[0]);
        }
        let len: usize = std::str::from_utf8(&len).unwrap().parse().unwrap();
        let mut frame = vec![0; len];
        conn.read_exact(&mut frame).unwrap();
        let frame = String::from_utf8(frame).unwrap();
        let json = &frame[frame.find(" {").unwrap() + 1..];
        assert_eq!(Message::from_json(json).unwrap().payload, expected);
    }
}

#[cfg(unix)]
#[test]
fn syslog_over_a_unix_datagram_socket() {
    let path = std::env::temp_dir().join(format!("metlog-syslog-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let client = Client::builder("app")
        .sender(SyslogSender::unix(&path, SenderOptions::default()).unwrap())
        .build();
    client.error("via /dev/log");
    client.flush();
    let mut buf = vec![0; 65_536];
    let n = socket.recv(&mut buf).unwrap();
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(text.starts_with("<11>1 "), "{text}");
    assert!(text.contains("via /dev/log"));
    std::fs::remove_file(path).unwrap();
}

#[test]
fn router_sends_by_type_and_sums_the_accounting() {
    let (socket, addr) = udp_listener();
    let logs = CaptureSender::new();
    let router =
        Router::new(logs.clone()).route(["counter", "timer"], StatsdSender::new(addr).unwrap());
    let client = Client::builder("app").sender(router).build();
    client.incr("hits");
    drop(client.timer("t"));
    client.info("hello");
    client.flush();
    let first = String::from_utf8(recv(&socket)).unwrap();
    assert!(first.starts_with("hits:1|c"), "{first}");
    assert_eq!(logs.len(), 1);
    let stats = client.stats();
    assert_eq!(stats.sent, 3, "{stats:?}");
    assert_accounted(stats, 3);
}

/// Resident memory of this process, in bytes (Linux).
#[cfg(target_os = "linux")]
#[cfg(target_os = "linux")]
#[test]
fn overload_keeps_memory_bounded_and_counts_every_drop() {
    // Resident memory is the process's: measured where no other test runs.
    support::in_own_process(
        &support::test_name!(overload_keeps_memory_bounded_and_counts_every_drop),
        &[],
        || {
            // 200,000 messages of 2 KB (400 MB if anything kept them all) at a peer
            // that reads nothing: the bounded queue and backlog cap what is held.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            // The peer holds its connection, unread, until the test ends.
            let (_done, until_done) = std::sync::mpsc::channel::<()>();
            let _peer = std::thread::spawn(move || {
                let held = listener.accept();
                let _ = until_done.recv();
                drop(held);
            });
            let config = QueueConfig::default()
                .capacity(2_000)
                .drain_timeout(Duration::from_millis(100));
            let client = Client::builder("overload")
                .sender(
                    TcpSender::with_options(
                        addr,
                        SenderOptions::default().queue(config).backlog(2_000),
                    )
                    .unwrap(),
                )
                .build();
            let text = "y".repeat(2_000);
            let before = support::resident_bytes();
            let produced = 200_000u64;
            for _ in 0..produced {
                client.info(text.clone());
            }
            let grown = support::resident_bytes().saturating_sub(before);
            assert!(
                grown < 64 << 20,
                "resident memory grew by {} MB",
                grown >> 20
            );
            let stats = client.stats();
            assert!(stats.dropped > produced / 2, "{stats:?}");
            assert_accounted(stats, produced);
        },
    );
}

#[test]
fn a_flush_guard_delivers_what_is_queued_when_it_drops() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = Client::builder("guard")
        .sender(TcpSender::new(addr).unwrap())
        .build();
    {
        let _flush_at_exit = client.flush_guard();
        for _ in 0..200 {
            client.incr("queued");
        }
    } // the guard flushes here; the client itself lives on (like a global)
    let stats = client.stats();
    assert_eq!((stats.sent, stats.queued), (200, 0), "{stats:?}");
    let (mut conn, _) = listener.accept().unwrap();
    assert_eq!(read_lines(&mut conn, 200).len(), 200);
}

mod annotated {
    #[metlog::incr("events.hits", fields(shard = 3))]
    pub fn hit() {}

    #[metlog::timer("events.work", severity = 4, logger = "worker")]
    pub fn work() -> Result<(), ()> {
        Err(())
    }
}

/// Annotated functions hand background senders a small event that the
/// worker builds into the envelope; what arrives must be exactly what the
/// caller-side build makes, in the caller's order.
#[test]
fn annotated_events_are_built_by_the_worker_in_the_callers_order() {
    let (socket, addr) = udp_listener();
    let capture = CaptureSender::new();
    let queued = Client::builder("svc")
        .severity(metlog::Severity::Notice)
        .sender(UdpSender::new(addr).unwrap())
        .build();
    let direct = Client::builder("svc")
        .severity(metlog::Severity::Notice)
        .sender(capture.clone())
        .build();
    for client in [&queued, &direct] {
        metlog::with_client(client, || {
            annotated::hit();
            client.info("between");
            let _ = annotated::work();
            annotated::hit();
        });
    }
    queued.flush();
    let received: Vec<Message> = (0..4)
        .map(|_| Message::from_json(std::str::from_utf8(&recv(&socket)).unwrap()).unwrap())
        .collect();
    let expected = capture.take();
    assert_eq!(expected.len(), 4);
    for (got, want) in received.iter().zip(&expected) {
        let mut want = want.truncated_to_micros();
        want.timestamp = got.timestamp;
        assert_eq!(got, &want);
    }
    let kinds: Vec<&str> = received.iter().map(|m| &*m.kind).collect();
    assert_eq!(kinds, ["counter", "oldstyle", "timer", "counter"]);
    let timer = &received[2];
    assert_eq!(
        (&*timer.logger, timer.severity, timer.fields.get("outcome")),
        ("worker", metlog::Severity::Warning, Some(&"err".into()))
    );
    assert_eq!(received[0].fields.get("shard"), Some(&3.into()));
    assert_eq!(received[0].severity, metlog::Severity::Notice);
    assert_eq!(&*received[0].logger, "svc");
    assert_accounted(queued.stats(), 4);
    assert_eq!(queued.stats().sent, 4);
}

#[test]
fn a_background_sender_shared_by_two_clients_keeps_each_clients_logger() {
    let (socket, addr) = udp_listener();
    let shared = std::sync::Arc::new(UdpSender::new(addr).unwrap());
    let first = Client::builder("first").sender(shared.clone()).build();
    let second = Client::builder("second").sender(shared.clone()).build();
    metlog::with_client(&first, annotated::hit);
    first.flush();
    metlog::with_client(&second, annotated::hit);
    second.flush();
    let loggers: Vec<String> = (0..2)
        .map(|_| {
            let msg = Message::from_json(std::str::from_utf8(&recv(&socket)).unwrap()).unwrap();
            msg.logger.to_string()
        })
        .collect();
    assert_eq!(loggers, ["first", "second"]);
}

#[test]
fn filters_still_apply_to_annotated_events() {
    let (socket, addr) = udp_listener();
    let client = Client::builder("svc")
        .sender(UdpSender::new(addr).unwrap())
        .filter(metlog::filter::type_blacklist(["counter"]))
        .build();
    metlog::with_client(&client, || {
        annotated::hit();
        let _ = annotated::work();
    });
    client.flush();
    let msg = Message::from_json(std::str::from_utf8(&recv(&socket)).unwrap()).unwrap();
    assert_eq!(msg.kind, "timer");
    let stats = client.stats();
    assert_eq!((stats.filtered, stats.sent), (1, 1));
}

mod statsd_sites {
    #[metlog::incr("sites.down", count = -2, logger = "other app")]
    pub fn down() {}

    #[metlog::timer("sites.slow|evil:1|c", rate = 0.9999999)]
    pub fn slow() {}
}

/// The statsd worker writes annotated functions' lines straight from their
/// events; they must be the lines it makes from the whole messages.
#[test]
fn statsd_lines_from_events_match_the_lines_from_messages() {
    let (socket, addr) = udp_listener();
    let capture = CaptureSender::new();
    let statsd = Client::builder("svc.x")
        .sender(StatsdSender::new(addr).unwrap())
        .build();
    let direct = Client::builder("svc.x").sender(capture.clone()).build();
    // `slow` is sampled at 0.9999999: kept but for one call in ten million,
    // and written with its rate.
    let calls = || {
        annotated::hit();
        statsd_sites::down();
        let _ = annotated::work();
        statsd_sites::slow();
    };
    metlog::with_client(&direct, calls);
    // The messages, sent whole through another statsd sender.
    let (from_messages, messages_addr) = udp_listener();
    let message_road = StatsdSender::new(messages_addr).unwrap();
    for message in capture.take() {
        message_road.send(message.into()).unwrap();
    }
    message_road.flush().unwrap();
    let mut expected = Vec::new();
    while expected.len() < 4 {
        let datagram = recv(&from_messages);
        expected.extend(
            String::from_utf8(datagram)
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
    }
    metlog::with_client(&statsd, calls);
    statsd.flush();
    // The worker may have packed the lines into one datagram or several.
    let mut received = Vec::new();
    while received.len() < 4 {
        let datagram = recv(&socket);
        let text = String::from_utf8(datagram).unwrap();
        received.extend(text.lines().map(str::to_owned));
    }
    assert_eq!(received, expected);
    assert_eq!(
        received,
        [
            // The routers' keys: the envelope's logger (the client's, or
            // a site's `logger = …`) is not part of them.
            "events.hits:1|c",
            "sites.down:-2|c",
            "events.work:0|ms",
            "sites.slow_evil_1_c:0|ms|@0.9999999"
        ]
    );
}

/// A burst of events larger than the TCP backlog, all taken by the worker at
/// once, still goes out a batch at a time: nothing is dropped while the
/// peer reads.
#[test]
fn a_burst_of_events_larger_than_the_tcp_backlog_is_delivered_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        conn.read_to_end(&mut all).unwrap();
        all.iter().filter(|&&b| b == b'\n').count()
    });
    let client = Client::builder("burst")
        .sender(TcpSender::with_options(addr, SenderOptions::default().backlog(1_000)).unwrap())
        .build();
    metlog::with_client(&client, || {
        for _ in 0..30_000 {
            annotated::hit();
        }
    });
    client.flush();
    let stats = client.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.dropped),
        (30_000, 0, 0),
        "{stats:?}"
    );
    drop(client);
    assert_eq!(reader.join().unwrap(), 30_000);
}

/// A message larger than the whole byte ceiling is dropped at once, even
/// when the sender may wait for room: no wait would ever make room.
#[test]
fn a_message_over_the_byte_ceiling_is_dropped_without_waiting() {
    let (_socket, addr) = udp_listener();
    let queue = QueueConfig::default()
        .max_bytes(65_536)
        .block_when_full(Duration::from_secs(30));
    let client = Client::builder("big")
        .sender(UdpSender::with_options(addr, SenderOptions::default().queue(queue)).unwrap())
        .build();
    let start = std::time::Instant::now();
    client.info("z".repeat(70_000));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the caller waited {:?} for room that cannot come",
        start.elapsed()
    );
    let stats = client.stats();
    assert_eq!(stats.dropped, 1, "{stats:?}");
    assert_eq!(stats.produced(), 1);
}

/// A peer that shuts down its sending side but keeps reading (as
/// `shutdown(SHUT_WR)` does) is still there: everything is delivered,
/// nothing waits. It was once taken for gone: 100 of 3,000 arrived.
#[test]
fn a_tcp_peer_that_half_closes_but_keeps_reading_gets_everything() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        std::io::BufRead::lines(std::io::BufReader::new(conn))
            .map_while(Result::ok)
            .count()
    });
    let client = Client::builder("half")
        .sender(TcpSender::new(addr).unwrap())
        .build();
    for i in 0..3_000 {
        client.incr("half.closed");
        if i % 100 == 0 {
            // Let the worker see the end of the peer's stream between
            // batches, as it would in a service.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    client.flush_timeout(Duration::from_secs(30)).unwrap();
    let stats = client.stats();
    assert_eq!((stats.sent, stats.queued), (3_000, 0), "{stats:?}");
    drop(client);
    assert_eq!(peer.join().unwrap(), 3_000);
}

/// A peer that closes altogether is still noticed: what is sent after the
/// close goes to a new connection, not into the dead socket.
#[test]
fn a_tcp_peer_that_closes_and_comes_back_loses_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed, first_closed) = std::sync::mpsc::channel();
    let peer = std::thread::spawn(move || {
        // The first connection: closed at once.
        let (first, sender_end) = listener.accept().unwrap();
        drop(first);
        closed.send(sender_end).unwrap();
        // The second: read everything.
        let (conn, _) = listener.accept().unwrap();
        std::io::BufRead::lines(std::io::BufReader::new(conn))
            .map_while(Result::ok)
            .filter(|line| line.contains("\"then\""))
            .count()
    });
    let client = Client::builder("back")
        .sender(TcpSender::new(addr).unwrap())
        .build();
    client.incr("first");
    // What follows is sent after the close, as the sender's end of the
    // connection sees it. (This waited 200 ms once; on a busy machine the
    // peer had not closed by then, and "then" messages went to the first
    // connection, unread.)
    let sender_end = first_closed
        .recv_timeout(support::PATIENCE)
        .expect("the peer accepted and closed the first connection");
    support::wait_until("the sender's end to see the peer close", || {
        !support::tcp_established(sender_end, addr)
    });
    for _ in 0..999 {
        client.incr("then");
    }
    client.flush_timeout(Duration::from_secs(30)).unwrap();
    drop(client);
    // Everything sent after the close could be seen arrives (the first
    // message may have reached the first connection before it closed,
    // unread: TCP cannot tell).
    assert_eq!(peer.join().unwrap(), 999);
}

/// ZeroMQ's PUB/SUB delivers nothing when nobody is subscribed, and says
/// nothing: those messages are counted as dropped (they were once counted
/// as sent), and once a subscriber is there they are sent.
#[test]
fn zeromq_without_a_subscriber_counts_drops_not_sends() {
    use metlog::sender::{SenderOptions, ZmqSender};
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    support::collect_reports();
    let client = Client::builder("nobody")
        .sender(
            ZmqSender::with_options([endpoint.as_str()], SenderOptions::default().backlog(1000))
                .unwrap(),
        )
        .build();
    for _ in 0..5_000 {
        client.incr("unheard");
    }
    client.flush();
    let stats = client.stats();
    assert_eq!((stats.sent, stats.dropped), (0, 5_000), "{stats:?}");
    assert!(
        support::reports()
            .iter()
            .any(|r| r.starts_with("zmq: no subscriber")),
        "the drops are reported once: {:?}",
        support::reports()
    );

    // A subscriber: knocks until the subscription is heard, then all of the
    // hundred arrive and are counted as sent.
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let client = Client::builder("somebody")
        .sender(
            ZmqSender::with_options(
                [endpoint.as_str()],
                SenderOptions::default().backlog(1000).bind(true),
            )
            .unwrap(),
        )
        .build();
    let context = zmq::Context::new();
    let sub = context.socket(zmq::SUB).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.set_rcvtimeo(50).unwrap();
    sub.connect(&endpoint).unwrap();
    knock_until_heard(&client, &sub);
    let before = client.stats();
    for _ in 0..100 {
        client.incr("heard");
    }
    client.flush();
    let patience = i32::try_from(support::PATIENCE.as_millis()).unwrap();
    sub.set_rcvtimeo(patience).unwrap();
    let received = (0..100).map_while(|_| sub.recv_bytes(0).ok()).count();
    assert_eq!(received, 100);
    let after = client.stats();
    assert_eq!(after.sent - before.sent, 100, "{after:?}");
    assert_eq!(after.dropped, before.dropped, "{after:?}");
    assert_eq!(after.produced(), after.sent + after.dropped, "{after:?}");
}

/// A subscriber to one topic (a message prefix) only: messages of other
/// topics, which ZeroMQ discards without a word, are counted as dropped,
/// not as sent.
#[test]
fn zeromq_messages_no_subscriber_wants_are_dropped_not_sent() {
    use metlog::sender::{SenderOptions, ZmqSender};
    support::collect_reports();
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let client = Client::builder("topics")
        .sender(
            ZmqSender::with_options(
                [endpoint.as_str()],
                SenderOptions::default().backlog(1000).bind(true),
            )
            .unwrap(),
        )
        .build();
    let context = zmq::Context::new();
    let sub = context.socket(zmq::SUB).unwrap();
    sub.set_subscribe(br#"{"type":"knock""#).unwrap();
    sub.set_rcvtimeo(50).unwrap();
    sub.connect(&endpoint).unwrap();
    knock_until_heard(&client, &sub);
    let before = client.stats();
    for _ in 0..100 {
        client.incr("unwanted");
        client.metlog("knock").send();
    }
    client.flush();
    assert_eq!(receive_up_to(&sub, 100, None), 100, "the knocks only");
    let after = client.stats();
    assert_eq!(after.sent - before.sent, 100, "{after:?}");
    assert_eq!(after.dropped - before.dropped, 100, "{after:?}");
    assert!(
        support::reports()
            .iter()
            .any(|r| r.starts_with("zmq: no subscriber takes some messages")),
        "the drops are reported once: {:?}",
        support::reports()
    );
}

/// A sender connected to two routers, one of them down: the one that is up
/// gets everything. The endpoint that was down once got a queue of its own,
/// which filled up and (ZeroMQ refusing rather than dropping silently) held
/// back every message to the other router too — and grew, meanwhile, to the
/// high-water mark of messages of any size.
#[test]
fn zeromq_an_endpoint_that_is_down_holds_nothing_back() {
    use metlog::sender::{SenderOptions, ZmqSender};
    // Knocks sent before the subscriptions are heard are dropped, reported.
    support::collect_reports();
    let context = zmq::Context::new();
    let sub = context.socket(zmq::SUB).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.bind("tcp://127.0.0.1:*").unwrap();
    let up = sub.get_last_endpoint().unwrap().unwrap();
    // The other router: subscribes, then goes down.
    let other_context = zmq::Context::new();
    let other = other_context.socket(zmq::SUB).unwrap();
    other.set_subscribe(b"").unwrap();
    other.bind("tcp://127.0.0.1:*").unwrap();
    let down = other.get_last_endpoint().unwrap().unwrap();
    let client = Client::builder("two-routers")
        .sender(
            ZmqSender::with_options(
                [up.as_str(), down.as_str()],
                SenderOptions::default().backlog(100),
            )
            .unwrap(),
        )
        .build();
    sub.set_rcvtimeo(50).unwrap();
    other.set_rcvtimeo(50).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (mut heard_up, mut heard_other) = (false, false);
    while !(heard_up && heard_other) {
        assert!(std::time::Instant::now() < deadline, "never subscribed");
        client.metlog("knock").send();
        client.flush();
        heard_up |= sub.recv_bytes(0).is_ok();
        heard_other |= other.recv_bytes(0).is_ok();
    }
    take_every_knock(&client, &sub);
    drop(other);
    drop(other_context);
    // What follows is sent once ZeroMQ has seen the other router go (its
    // end of the connection closed): until then it cannot know, and holds
    // messages for it.
    let down_addr: std::net::SocketAddr = down.trim_start_matches("tcp://").parse().unwrap();
    support::wait_until("ZeroMQ to close its connection to the router gone", || {
        !support::tcp_open_to(down_addr)
    });
    let before = client.stats();
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = {
        let taken = taken.clone();
        std::thread::spawn(move || receive_up_to(&sub, 2_000, Some(&taken)))
    };
    for i in 1..=2_000u64 {
        client.incr("both");
        if i % 50 == 0 {
            // The router that is up takes each fifty before the next are
            // sent: its own queue (100 messages) never fills, whatever the
            // machine's load — a message dropped now was held back by the
            // router that is down. (It sent on, and on a busy machine the
            // queue to the router that was up filled now and then.)
            client.flush();
            support::wait_until("the router that is up to take what was sent", || {
                let dropped = client.stats().dropped - before.dropped;
                taken.load(std::sync::atomic::Ordering::SeqCst) + dropped >= i
            });
        }
    }
    client.flush();
    let after = client.stats();
    assert_eq!(reader.join().unwrap(), 2_000, "{after:?}");
    assert_eq!(after.sent - before.sent, 2_000, "{after:?}");
}

/// Receives from `sub` until `expected` messages have come (each awaited at
/// most `support::PATIENCE`, each counted in `taken` as it comes), then for
/// a moment longer, to see any extra one: how many came. (Counting until a
/// second without a message, as it once did, counted short when a busy
/// machine paused longer.)
fn receive_up_to(
    sub: &zmq::Socket,
    expected: usize,
    taken: Option<&std::sync::atomic::AtomicU64>,
) -> usize {
    let patience = i32::try_from(support::PATIENCE.as_millis()).unwrap();
    sub.set_rcvtimeo(patience).unwrap();
    let mut received = (0..expected)
        .map_while(|_| sub.recv_bytes(0).ok())
        .inspect(|_| {
            if let Some(taken) = taken {
                taken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .count();
    if received == expected {
        sub.set_rcvtimeo(200).unwrap();
        received += (0..).map_while(|_| sub.recv_bytes(0).ok()).count();
    }
    received
}

/// Sends `knock` messages until `sub` (its receive timeout short) receives
/// one — the subscription has been heard — then takes every knock sent.
fn knock_until_heard(client: &Client, sub: &zmq::Socket) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sub.recv_bytes(0).is_err() {
        assert!(std::time::Instant::now() < deadline, "never subscribed");
        client.metlog("knock").send();
        client.flush();
    }
    take_every_knock(client, sub);
}

/// Sends one knock more, marked, and receives up to it: ZeroMQ keeps a
/// connection's order, so no earlier knock can arrive after, however slowly
/// a busy machine delivers (draining until a pause let a late one through).
fn take_every_knock(client: &Client, sub: &zmq::Socket) {
    client.metlog("knock").payload("the last knock").send();
    client.flush();
    let deadline = std::time::Instant::now() + support::PATIENCE;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the last knock never came"
        );
        if let Ok(knock) = sub.recv_bytes(0) {
            if String::from_utf8_lossy(&knock).contains("the last knock") {
                return;
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A router whose three routes are stuck (a refused port): flushing it
/// waits the timeout once, for all of them together — not once per route
/// (the exit's 5 s became 15) — and the error names every route's loss.
#[test]
fn a_router_flushes_all_its_routes_within_one_timeout() {
    support::collect_reports();
    let refused = free_port();
    // Each route's flush timeout. Waited once for all three, a flush takes
    // it; waited route after route, three times it: the bound between
    // them, 2.5 times it, leaves seconds for a busy machine either way.
    let timeout = Duration::from_secs(2);
    let bound = timeout * 5 / 2;
    let queue = QueueConfig::default()
        .drain_timeout(Duration::from_millis(100))
        .flush_timeout(timeout);
    let route = || {
        TcpSender::with_options(
            ("127.0.0.1", refused),
            SenderOptions::default().queue(queue.clone()).backlog(100),
        )
        .unwrap()
    };
    let router = Router::new(route())
        .route(["counter"], route())
        .route(["timer"], route());
    let client = Client::builder("stuck-routes").sender(router).build();
    client.incr("c");
    client.timer_send("t", Duration::from_millis(3));
    client.info("l");
    let started = std::time::Instant::now();
    let error = client.flush_timeout(timeout).unwrap_err();
    let waited = started.elapsed();
    assert!(waited < bound, "waited {waited:?}");
    assert_eq!(
        error.to_string().matches("1 message(s) waiting").count(),
        3,
        "{error}"
    );
    // `flush` alone: each route's own 2 s, at once — not 6 s in turn.
    let started = std::time::Instant::now();
    client.flush();
    let waited = started.elapsed();
    assert!(waited < bound, "flush waited {waited:?}");
}

/// A route whose flush counts how many run at once, and how many ran.
struct CountsFlushes {
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    flushed: Arc<AtomicUsize>,
}

impl Sender for CountsFlushes {
    fn send(&self, _record: metlog::Record<'_>) -> Result<(), metlog::sender::SendError> {
        Ok(())
    }

    fn flush(&self) -> Result<(), metlog::sender::SendError> {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        std::thread::yield_now();
        self.running.fetch_sub(1, SeqCst);
        self.flushed.fetch_add(1, SeqCst);
        Ok(())
    }
}

/// A router of tens of thousands of routes flushes each of them — on a few
/// threads, not one per route (attack finding: 10,000 routes took 0.66 s
/// per flush, 40,000 aborted the process) — and still waits for a stuck
/// route among them once, not once per thread's share. Own process: the
/// old way aborts it.
#[test]
fn a_router_of_forty_thousand_routes_flushes_on_a_few_threads() {
    support::in_own_process(
        &support::test_name!(a_router_of_forty_thousand_routes_flushes_on_a_few_threads),
        &[],
        || {
            const ROUTES: usize = 40_000;
            let (running, most, flushed) = (Arc::default(), Arc::default(), Arc::default());
            let route = || CountsFlushes {
                running: Arc::clone(&running),
                most: Arc::clone(&most),
                flushed: Arc::clone(&flushed),
            };
            let mut router = Router::new(route());
            for n in 1..ROUTES {
                router = router.route([format!("type{n}")], route());
            }
            let client = Client::builder("many-routes").sender(router).build();
            for _ in 0..3 {
                client.flush_timeout(Duration::from_secs(60)).unwrap();
                client.flush();
            }
            assert_eq!(flushed.load(SeqCst), 6 * ROUTES);
            let most = most.load(SeqCst);
            assert!(most <= 64, "{most} flushes at once");
        },
    );
}

/// Many routes, their stuck TCP senders behind the last ones: a flush with
/// a timeout waits it once for all, though they outnumber the threads.
#[test]
fn stuck_routes_beyond_the_flush_threads_share_one_timeout() {
    let refused = free_port();
    let queue = QueueConfig::default()
        .drain_timeout(Duration::from_millis(100))
        .flush_timeout(Duration::from_secs(1));
    let mut router = Router::new(metlog::sender::NullSender);
    for n in 0..40 {
        let tcp = TcpSender::with_options(
            ("127.0.0.1", refused),
            SenderOptions::default().queue(queue.clone()).backlog(100),
        )
        .unwrap();
        router = router.route([format!("stuck{n}")], tcp);
    }
    let client = Client::builder("stuck-many").sender(router).build();
    for n in 0..40 {
        client.metlog(format!("stuck{n}")).send();
    }
    let timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let error = client.flush_timeout(timeout).unwrap_err();
    let waited = started.elapsed();
    // Once: 1 s (and what a busy machine adds); in turn, per thread's
    // share of the 40, three times it at least.
    assert!(waited < timeout * 5 / 2, "waited {waited:?}");
    assert_eq!(
        error.to_string().matches("message(s) waiting").count(),
        40,
        "{error}"
    );
    // Each route's own timeout: the same bound.
    let started = std::time::Instant::now();
    client.flush();
    let waited = started.elapsed();
    assert!(waited < timeout * 5 / 2, "flush waited {waited:?}");
}

/// A TCP peer that is down is said at once — once, however many messages
/// wait — and said again when it is back (attack finding: 7 s with
/// `queued: 25` and nothing on stderr, until messages were lost).
#[test]
fn a_tcp_peer_that_is_down_is_reported_once_and_again_when_back() {
    support::collect_reports();
    let port = free_port();
    let peer = format!("127.0.0.1:{port}");
    let about_peer = |what: &str| {
        support::reports()
            .into_iter()
            .filter(|r| r.contains(&peer) && r.contains(what))
            .count()
    };
    let sender = TcpSender::new(peer.as_str()).unwrap();
    let client = Client::builder("down").sender(sender).build();
    for _ in 0..25 {
        client.info("waiting");
    }
    support::wait_until("the unreachable peer reported", || {
        about_peer("unreachable") > 0
    });
    // More messages and more failed attempts: not said again.
    for _ in 0..25 {
        client.info("waiting");
    }
    let _ = client.flush_timeout(Duration::from_millis(300));
    assert_eq!(about_peer("unreachable"), 1, "{:?}", support::reports());
    assert_eq!(client.stats().queued, 50);
    // The peer comes up: said once, and everything kept arrives.
    let listener = TcpListener::bind(peer.as_str()).unwrap();
    let (conn, _) = listener.accept().unwrap();
    let lines = BufReader::new(conn).lines().take(50).map_while(Result::ok);
    assert_eq!(lines.count(), 50);
    support::wait_until("the peer reported reachable again", || {
        about_peer("reachable again") == 1
    });
}
