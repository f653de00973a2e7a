//! Host names are resolved on the senders' workers: building a client never
//! fails (or waits) because a host does not resolve yet, as metlog-py, which
//! resolved at each send; what cannot go out is counted and reported once.

use crate::support;

use std::net::UdpSocket;
use std::time::Duration;

use metlog::sender::{
    QueueConfig, SenderOptions, StatsdSender, SyslogSender, TcpSender, UdpSender,
};
use metlog::Client;

/// Never resolves (RFC 6761).
const NOWHERE: &str = "metlog-test.invalid";

fn send_three(client: &Client) {
    for _ in 0..3 {
        client.incr("hits");
    }
    client.flush();
}

/// Waits until `client` has nothing queued: a name lookup on the worker
/// may outlast the flush's timeout when the resolver is slow to say no.
fn settled(client: &Client) {
    support::wait_until("the worker to settle every message", || {
        client.stats().queued == 0
    });
}

/// Waits until metlog has reported something containing `text`.
fn reported(text: &str) {
    support::wait_until(&format!("a report containing {text:?}"), || {
        support::reports().iter().any(|r| r.contains(text))
    });
}

#[test]
fn datagram_senders_build_for_a_host_that_does_not_resolve_and_count_failures() {
    support::collect_reports();
    let senders: Vec<(&str, Box<dyn metlog::sender::Sender>)> = vec![
        (
            "udp",
            Box::new(UdpSender::new(format!("{NOWHERE}:5565")).unwrap()),
        ),
        (
            "statsd",
            Box::new(StatsdSender::new((NOWHERE, 8125)).unwrap()),
        ),
        (
            "syslog",
            Box::new(
                SyslogSender::udp(format!("{NOWHERE}:514"), SenderOptions::default()).unwrap(),
            ),
        ),
    ];
    for (what, sender) in senders {
        let client = Client::builder("app").sender(sender).build();
        send_three(&client);
        settled(&client);
        let stats = client.stats();
        assert_eq!((stats.failed, stats.sent), (3, 0), "{what}: {stats:?}");
    }
    for port in [5565, 8125, 514] {
        reported(&format!("cannot resolve {NOWHERE}:{port}"));
    }
    let reports = support::reports();
    let about = |port: u16| {
        reports
            .iter()
            .filter(|r| r.contains(&format!("cannot resolve {NOWHERE}:{port}")))
            .count()
    };
    // Each sender reports its first failure, once.
    for port in [5565, 8125, 514] {
        assert!(about(port) >= 1, "{port}: {reports:?}");
    }
    assert_eq!(about(8125), 1, "{reports:?}");
}

#[test]
fn a_tcp_sender_keeps_messages_while_its_host_does_not_resolve() {
    support::collect_reports();
    let config = QueueConfig::default()
        .flush_timeout(Duration::from_millis(300))
        .drain_timeout(Duration::from_millis(300));
    let sender = TcpSender::with_options(
        format!("{NOWHERE}:5566"),
        SenderOptions::default().queue(config).backlog(100),
    )
    .unwrap();
    let client = Client::builder("app").sender(sender).build();
    send_three(&client);
    let stats = client.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.queued),
        (0, 0, 3),
        "{stats:?}"
    );
    let unresolved = format!("cannot resolve {NOWHERE}:5566");
    reported(&unresolved);
    let reports = support::reports();
    assert_eq!(
        reports.iter().filter(|r| r.contains(&unresolved)).count(),
        1,
        "reported once: {reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| r.contains("messages wait in the backlog")),
        "{reports:?}"
    );
    // At the end the backlog is lost, and says why.
    drop(client);
}

/// metlog-py's host list with one host that does not resolve: what the
/// others received is sent, not failed; the bad one is reported once.
#[test]
fn a_host_list_with_one_bad_name_still_delivers_to_the_others() {
    support::collect_reports();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    let sender = UdpSender::to_hosts(
        ["127.0.0.1", NOWHERE, "other.metlog-test.invalid"],
        [port],
        SenderOptions::default(),
    )
    .unwrap();
    let client = Client::builder("app").sender(sender).build();
    send_three(&client);
    let mut buf = [0; 65_536];
    for _ in 0..3 {
        receiver.recv(&mut buf).unwrap();
    }
    settled(&client);
    let stats = client.stats();
    assert_eq!((stats.sent, stats.failed), (3, 0), "{stats:?}");
    // Each failing destination reported, once.
    for host in [NOWHERE, "other.metlog-test.invalid"] {
        reported(&format!("cannot resolve {host}:{port}"));
    }
    let reports = support::reports();
    for host in [NOWHERE, "other.metlog-test.invalid"] {
        let about: Vec<&String> = reports
            .iter()
            .filter(|r| r.contains(&format!("cannot resolve {host}:{port}")))
            .collect();
        assert_eq!(about.len(), 1, "{host}: {reports:?}");
        assert!(about[0].contains("other destinations"), "{about:?}");
    }
}

/// A name that resolves is looked up on the worker and delivered to.
#[test]
fn host_names_are_resolved_on_the_worker() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    for sender in [
        Box::new(StatsdSender::new(format!("localhost:{port}")).unwrap())
            as Box<dyn metlog::sender::Sender>,
        Box::new(UdpSender::new(("localhost", port)).unwrap()),
    ] {
        let client = Client::builder("app").sender(sender).build();
        client.incr("hits");
        client.flush();
        let mut buf = [0; 65_536];
        let n = receiver.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.contains("hits"), "{text}");
        assert_eq!(client.stats().sent, 1);
    }
}

/// metlog-py's docs' example names hosts that resolve only in production.
#[test]
fn the_docs_example_with_unresolvable_hosts_loads() {
    support::collect_reports();
    let client = metlog::config::from_ini_str(
        "[metlog]\nlogger = myapp\nsender_class = metlog.senders.UdpSender\n\
         sender_host = logstash1.invalid logstash2.invalid\nsender_port = 5565\n",
        "metlog",
    )
    .unwrap();
    let udp = client.sender_as::<UdpSender>().unwrap();
    let hosts: Vec<String> = udp.destinations().iter().map(|d| d.to_string()).collect();
    assert_eq!(hosts, ["logstash1.invalid:5565", "logstash2.invalid:5565"]);
    send_three(&client);
    settled(&client);
    assert_eq!(client.stats().failed, 3);
}

#[test]
fn an_address_without_a_port_is_still_refused_when_built() {
    let err = StatsdSender::new("statsd.internal")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no port") && err.contains("statsd.internal"),
        "{err}"
    );
}
