//! The record road end to end, through the real senders: what no single
//! module can show (it needs the client and the senders together).

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use crate::record::{Body, Record};
use crate::sender::{Sender, TcpSender, UdpSender};
use crate::site::{FieldLit, Kind, Site, SiteState};
use crate::Message;

static SITE_STATE: SiteState = SiteState::new();
static SITE: Site = Site {
    kind: Kind::Timer,
    module_path: "a::b",
    scope: "T",
    function: "f",
    name: Some("q\"é\n\\"),
    name_positional: false,
    rate: 0.25,
    severity: Some(3),
    logger: Some("lo\"g\u{1F980}"),
    fields: &[
        ("s", FieldLit::Str("x\"y\u{0}")),
        ("i", FieldLit::Int(-3)),
        ("nan", FieldLit::Float(f64::NAN)),
        ("b", FieldLit::Bool(true)),
    ],
    client: None,
    count: 1,
    state: &SITE_STATE,
};

/// One call of every record kind on `client`; what each one's message is.
fn every_kind(client: &crate::Client) -> Vec<Message> {
    let name = String::from("borrowed.name");
    let at = std::time::SystemTime::now();
    let records = || {
        vec![
            client.record(
                at,
                Body::Site {
                    site: &SITE,
                    millis: 12,
                    outcome: 1,
                },
            ),
            client.record(
                at,
                Body::Metric {
                    kind: Kind::Incr,
                    name: crate::Text::Borrowed(&name),
                    value: (-5i64) as u64,
                    rate: 0.5,
                    extra: None,
                },
            ),
            client.record(
                at,
                Body::Log {
                    severity: crate::Severity::Warning,
                    text: crate::Text::Borrowed("a \"log\" line"),
                },
            ),
        ]
    };
    let expected: Vec<Message> = records().into_iter().map(Record::into_message).collect();
    let before = crate::message::BUILT.with(std::cell::Cell::get);
    for record in records() {
        client.dispatch(record);
    }
    client.counter("with.extra").field("k", "v").send();
    client.timer_send("timer.sent", Duration::from_millis(7));
    assert_eq!(
        crate::message::BUILT.with(std::cell::Cell::get),
        before,
        "no message built on the caller's thread"
    );
    expected
}

/// A service that makes a client per request on one long-lived sender:
/// the sender holds no client once its messages are dealt with, and its
/// totals still count every message.
#[test]
fn short_lived_clients_are_not_held_by_the_sender() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = Arc::new(UdpSender::new(receiver.local_addr().unwrap()).unwrap());
    let mut gone = Vec::new();
    for i in 0..5_000 {
        let client = crate::Client::builder("per-request")
            .sender(udp.clone())
            .build();
        client.incr("n");
        if i % 1_000 == 0 {
            gone.push(Arc::downgrade(&client.inner.defaults));
            client.flush();
            assert_eq!(client.stats().sent, 1);
        }
    }
    udp.flush().unwrap();
    assert!(
        gone.iter().all(|client| client.upgrade().is_none()),
        "a client's defaults outlive its delivered messages"
    );
    assert_eq!(udp.delivery().unwrap().delivered, 5_000);
    assert_eq!(udp.delivery().unwrap().queued, 0);

    let client = crate::Client::builder("late").sender(udp.clone()).build();
    client.incr("n");
    client.flush();
    assert_eq!(client.stats().sent, 1);
    assert_eq!(udp.delivery().unwrap().delivered, 5_001);
}

/// The UDP and TCP workers encode each record straight from its
/// envelope view: not one `Message` is assembled on either side, and
/// the bytes are those of the message the record stands for.
#[test]
fn udp_and_tcp_deliver_records_without_building_messages() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = std::sync::Arc::new(UdpSender::new(receiver.local_addr().unwrap()).unwrap());
    let client = crate::Client::builder("direct").sender(udp.clone()).build();
    let expected = every_kind(&client);
    client.flush();
    assert_eq!(udp.0.built_on_worker(), 0, "none built on the worker");
    let mut buf = [0u8; 4096];
    for message in &expected {
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), message.to_json());
    }
    assert_eq!(client.stats().sent, 5);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = std::sync::Arc::new(TcpSender::new(listener.local_addr().unwrap()).unwrap());
    let client = crate::Client::builder("direct").sender(tcp.clone()).build();
    let expected = every_kind(&client);
    client.flush();
    assert_eq!(tcp.0.built_on_worker(), 0, "none built on the worker");
    let (conn, _) = listener.accept().unwrap();
    let mut lines = std::io::BufReader::new(conn).lines();
    for message in &expected {
        assert_eq!(lines.next().unwrap().unwrap(), message.to_json());
    }
    assert_eq!(client.stats().sent, 5);
}
