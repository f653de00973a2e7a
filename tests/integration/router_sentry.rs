//! `sentry` messages through the router's real Sentry outputs:
//! logstash-metlog's `metlog_sentry` (one DSN in the router's configuration)
//! and `metlog_sentry_dsn` (the DSN from each message's `fields.dsn`), vendored
//! unmodified in `tests/router/logstash-metlog/` and run by
//! `tests/router/run_sentry_output.rb`, post to a stand-in Sentry store
//! endpoint (`tests/router/sentry_store.py`) that records each request.
//! `scripts/test.sh` installs Ruby and starts the endpoint, and runs these
//! ignored tests; each fails loudly if either is missing.
//!
//! What Sentry needs of each request, as the router makes it from the
//! message: the URL `<scheme>://<host>[:port]/api/store/`, `X-Sentry-Auth`
//! with `sentry_timestamp` = `fields.epoch_timestamp` and `sentry_key` = the
//! DSN's public key, `Content-Type: application/octet-stream`, and the body =
//! the payload byte for byte, which reads back (base64, zlib, JSON) as an
//! event of the DSN's project.
//!
//! Each test gives its DSNs public keys of its own and reads only the
//! requests carrying them: the tests share the endpoint.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use metlog::{Message, Severity};
use serde_json::{json, Value};

fn peer(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: run the router tests through scripts/test.sh, which starts the stand-in Sentry endpoint"
        )
    })
}

/// A DSN on the stand-in endpoint with a public key no other test (or run)
/// uses: `http://KEY:SECRET@127.0.0.1:PORT<path>`.
struct Dsn {
    url: String,
    key: String,
}

fn dsn(path: &str) -> Dsn {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let key = format!(
        "{:08x}{nanos:08x}{:04x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let url = format!("http://{key}:5ec7e7@{}{path}", peer("METLOG_TEST_SENTRY"));
    Dsn { url, key }
}

/// `base64(zlib(json(event)))`, as metlog-raven encodes a Sentry event.
fn encode_event(event: &Value) -> String {
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(event.to_string().as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(zlib.finish().unwrap())
}

/// The event in a payload: base64, then zlib, then JSON (raven's
/// `Client.decode`, as Sentry reads the body).
fn decode_event(body: &[u8]) -> Value {
    let zlib = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap_or_else(|e| panic!("the body is not base64 ({e}): {body:?}"));
    let mut text = String::new();
    flate2::read::ZlibDecoder::new(&zlib[..])
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("the body is not a zlib stream of text: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the event is not JSON ({e}): {text}"))
}

/// A `sentry` message as RAVEN.md describes metlog-raven's, made by hand
/// (what the harness is proven with; the crate's own are in `from_the_crate`).
fn hand_made(dsn: &Dsn, project: &str, text: &str) -> Message {
    let event = json!({
        "project": project,
        "event_id": format!("{:032x}", u128::from(std::process::id()) << 64 | u128::from(text.len() as u64)),
        "message": format!("ValueError: {text}"),
        "level": 40,
        "culprit": "app.views in handle",
        "timestamp": "2026-01-02T03:04:05Z",
        "sentry.interfaces.Exception": {"type": "ValueError", "value": text, "module": "exceptions"},
        "sentry.interfaces.Stacktrace": {"frames": [
            {"filename": "app/views.py", "module": "app.views", "function": "handle", "lineno": 12},
        ]},
        "extra": {"msg": text, "logger": "svc", "severity": 3},
    });
    let mut msg = Message::new("sentry", "svc");
    msg.severity = Severity::Error;
    msg.payload = encode_event(&event).into();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    msg.fields.insert("epoch_timestamp", now);
    msg.fields.insert("msg", text.to_owned());
    msg.fields.insert("dsn", dsn.url.clone());
    msg
}

/// Runs `output` (with `dsn` as its `dsn` option, for `metlog_sentry`) on
/// `messages`, one JSON line each on its stdin, until its queue is drained.
fn run_output(output: &str, dsn: Option<&str>, messages: &[Message]) -> Output {
    let driver = concat!(env!("CARGO_MANIFEST_DIR"), "/router/run_sentry_output.rb");
    let mut child = Command::new("ruby")
        .arg(driver)
        .arg(output)
        .args(dsn)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ruby runs (scripts/test.sh installs it)");
    let mut stdin = child.stdin.take().unwrap();
    for msg in messages {
        writeln!(stdin, "{}", msg.to_json()).unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// `run_output`, which must have handled every message.
fn run_ok(output: &str, dsn: Option<&str>, messages: &[Message]) {
    let out = run_output(output, dsn, messages);
    assert!(
        out.status.success(),
        "{output}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One request the endpoint recorded.
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name));
        let value = values.next().map(|(_, v)| v.as_str());
        assert!(
            values.next().is_none(),
            "{name} twice in {:?}",
            self.headers
        );
        value
    }
}

/// The requests recorded whose `X-Sentry-Auth` names `key`, in order. The
/// driver exits once every event is posted and answered, and the endpoint
/// records a request before it answers: no waiting.
fn requests_for(key: &str) -> Vec<Request> {
    let log = std::fs::read_to_string(peer("METLOG_TEST_SENTRY_OUT")).unwrap();
    let needle = format!("sentry_key={key}");
    log.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|r| Request {
            path: r["path"].as_str().unwrap().to_owned(),
            headers: serde_json::from_value(r["headers"].clone()).unwrap(),
            body: base64::engine::general_purpose::STANDARD
                .decode(r["body"].as_str().unwrap())
                .unwrap(),
        })
        .filter(|r| {
            r.header("X-Sentry-Auth")
                .is_some_and(|a| a.ends_with(&needle))
        })
        .collect()
}

/// What Sentry needs of the request the router made of `msg`.
fn assert_delivered(req: &Request, msg: &Message, key: &str, project: &str) {
    assert_eq!(req.path, "/api/store/");
    assert_eq!(
        req.header("Host"),
        Some(peer("METLOG_TEST_SENTRY").as_str())
    );
    // The timestamp as the message carries it on the wire.
    let wire: Value = serde_json::from_str(&msg.to_json()).unwrap();
    let timestamp = &wire["fields"]["epoch_timestamp"];
    assert!(timestamp.is_number(), "epoch_timestamp: {timestamp}");
    assert_eq!(
        req.header("X-Sentry-Auth"),
        Some(
            format!(
                "Sentry sentry_timestamp={timestamp}, sentry_client=raven-logstash/1.0, \
                 sentry_version=2.0, sentry_key={key}"
            )
            .as_str()
        )
    );
    assert_eq!(req.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(req.body, msg.payload.as_bytes(), "the body is the payload");
    assert_eq!(decode_event(&req.body)["project"], project);
}

#[test]
#[ignore = "needs ruby and the stand-in Sentry endpoint: run through scripts/test.sh"]
fn metlog_sentry_posts_each_message_with_its_timestamp_and_the_dsns_key() {
    let dsn = dsn("/2");
    let messages = [
        hand_made(&dsn, "2", "first"),
        hand_made(&dsn, "2", "second"),
    ];
    run_ok("metlog_sentry", Some(&dsn.url), &messages);
    let requests = requests_for(&dsn.key);
    assert_eq!(requests.len(), 2, "each message once");
    for (req, msg) in requests.iter().zip(&messages) {
        assert_delivered(req, msg, &dsn.key, "2");
    }
}

#[test]
#[ignore = "needs ruby and the stand-in Sentry endpoint: run through scripts/test.sh"]
fn metlog_sentry_dsn_posts_each_message_to_its_own_dsn() {
    let (a, b) = (dsn("/3"), dsn("/4"));
    let messages = [hand_made(&a, "3", "to a"), hand_made(&b, "4", "to b")];
    run_ok("metlog_sentry_dsn", None, &messages);
    for (dsn, project, msg) in [(&a, "3", &messages[0]), (&b, "4", &messages[1])] {
        let requests = requests_for(&dsn.key);
        assert_eq!(requests.len(), 1, "each message once, at its DSN");
        assert_delivered(&requests[0], msg, &dsn.key, project);
    }
}

/// The router keeps nothing of a DSN's path but the project: a Sentry
/// served under a path prefix (`http://k:s@host/sentry/5`) gets its events
/// at the host's `/api/store/` (`compute_server_uri` splits the path at its
/// first `/`, which leads it). What a user with such a DSN must know.
#[test]
#[ignore = "needs ruby and the stand-in Sentry endpoint: run through scripts/test.sh"]
fn the_router_posts_a_prefixed_dsns_events_at_the_hosts_root() {
    let dsn = dsn("/sentry/5");
    let messages = [hand_made(&dsn, "5", "prefixed")];
    run_ok("metlog_sentry", Some(&dsn.url), &messages);
    run_ok("metlog_sentry_dsn", None, &messages);
    let requests = requests_for(&dsn.key);
    assert_eq!(requests.len(), 2);
    for req in &requests {
        assert_delivered(req, &messages[0], &dsn.key, "5");
    }
}

/// The hazard: a message without `fields.dsn` raises in
/// `metlog_sentry_dsn`'s only sending thread, and no later event of any
/// service goes out. The crate never sends one: every `sentry` message it
/// makes carries its DSN (`from_the_crate`).
#[test]
#[ignore = "needs ruby and the stand-in Sentry endpoint: run through scripts/test.sh"]
fn metlog_sentry_dsn_stops_for_good_at_a_message_without_a_dsn() {
    let dsn = dsn("/6");
    // Today's panic report (plugin::panics): no `fields.dsn`, no encoded event.
    let mut panic = Message::new("panic", "svc");
    panic.severity = Severity::Critical;
    panic.payload = "boom".into();
    panic.fields.insert("location", "src/main.rs:1:1");
    let after = hand_made(&dsn, "6", "after the panic");
    let out = run_output("metlog_sentry_dsn", None, &[panic, after]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the sending thread died: {stderr}"
    );
    assert!(stderr.contains("start_with?"), "{stderr}");
    assert!(stderr.contains(r#""unsent":1"#), "{stderr}");
    assert!(requests_for(&dsn.key).is_empty(), "the next event is lost");
}

/// The crate's own `sentry` messages (`plugin::raven`) through the router:
/// issue 23's "Done when".
mod from_the_crate {
    use super::{assert_delivered, decode_event, dsn, requests_for, run_ok, Dsn};
    use crate::support;
    use metlog::plugin::raven::Raven;
    use metlog::sender::CaptureSender;
    use metlog::{Client, Message};

    fn raven_client(dsn: &Dsn) -> (Client, CaptureSender) {
        let capture = CaptureSender::new();
        let raven = Raven::new(dsn.url.as_str()).expect("a valid DSN");
        let client = Client::builder("svc")
            .sender(capture.clone())
            .plugin("raven", raven)
            .build();
        (client, capture)
    }

    /// What `metlog_sentry_dsn` needs of every message the crate sends, or
    /// its sending thread dies (`metlog_sentry_dsn_stops_for_good_at_a_message_without_a_dsn`).
    fn assert_carries_its_dsn(messages: &[Message], dsn: &Dsn) {
        for msg in messages {
            assert_eq!(msg.kind, "sentry");
            assert_eq!(
                msg.field("dsn").and_then(|v| v.as_str()),
                Some(dsn.url.as_str())
            );
        }
    }

    #[test]
    #[ignore = "needs ruby and the stand-in Sentry endpoint: run through scripts/test.sh"]
    fn client_raven_reaches_sentry_through_both_outputs() {
        let dsn = dsn("/7");
        let (client, capture) = raven_client(&dsn);
        let err = "x1".parse::<u8>().unwrap_err();
        client.raven("cannot read the count", &err);
        let messages = capture.messages();
        assert_eq!(messages.len(), 1);
        assert_carries_its_dsn(&messages, &dsn);
        run_ok("metlog_sentry", Some(&dsn.url), &messages);
        run_ok("metlog_sentry_dsn", None, &messages);
        let requests = requests_for(&dsn.key);
        assert_eq!(requests.len(), 2, "once through each output");
        for req in &requests {
            assert_delivered(req, &messages[0], &dsn.key, "7");
            let event = decode_event(&req.body);
            assert_eq!(
                event["message"],
                "ParseIntError: invalid digit found in string"
            );
        }
    }

    #[metlog::capture_stack]
    fn explode() {
        panic!("boom in an annotated function");
    }

    #[metlog::capture_stack(err)]
    fn fail() -> Result<u8, std::num::ParseIntError> {
        "x2".parse::<u8>()
    }

    /// A panic in an annotated function and an `Err` captured by option
    /// each arrive once. In a process of its own: `capture_stack` chains a
    /// panic hook.
    #[test]
    #[ignore = "needs ruby and the stand-in Sentry endpoint: run through scripts/test.sh"]
    fn a_panic_and_a_captured_err_each_arrive_once() {
        support::in_own_process(
            &support::test_name!(a_panic_and_a_captured_err_each_arrive_once),
            &[],
            || {
                let dsn = dsn("/8");
                let (client, capture) = raven_client(&dsn);
                metlog::with_client(&client, || {
                    assert!(std::panic::catch_unwind(explode).is_err());
                    assert!(fail().is_err());
                });
                let messages = capture.messages();
                assert_eq!(messages.len(), 2, "{messages:#?}");
                assert_carries_its_dsn(&messages, &dsn);
                run_ok("metlog_sentry_dsn", None, &messages);
                let requests = requests_for(&dsn.key);
                assert_eq!(requests.len(), 2, "each once");
                for (req, msg) in requests.iter().zip(&messages) {
                    assert_delivered(req, msg, &dsn.key, "8");
                }
                let events: Vec<_> = requests.iter().map(|r| decode_event(&r.body)).collect();
                assert_eq!(events[0]["message"], "panic: boom in an annotated function");
                assert_eq!(
                    events[1]["message"],
                    "ParseIntError: invalid digit found in string"
                );
            },
        );
    }

    /// Panics reported by the panics plugin in its Sentry mode (what
    /// replaces today's `panic` messages for a service with a `raven`
    /// plugin) carry their DSN: `metlog_sentry_dsn` forwards each once. In a
    /// process of its own: it installs a panic hook.
    #[test]
    #[ignore = "needs ruby and the stand-in Sentry endpoint: run through scripts/test.sh"]
    fn the_panics_plugins_sentry_reports_reach_sentry_once_each() {
        support::in_own_process(
            &support::test_name!(the_panics_plugins_sentry_reports_reach_sentry_once_each),
            &[],
            || {
                let dsn = dsn("/9");
                let (client, capture) = raven_client(&dsn);
                let timeout = std::time::Duration::from_secs(5);
                metlog::plugin::panics::install_sentry(Some(client), timeout);
                for _ in 0..2 {
                    assert!(std::thread::spawn(|| panic!("boom in a thread"))
                        .join()
                        .is_err());
                }
                let messages = capture.messages();
                assert_eq!(messages.len(), 2, "{messages:#?}");
                assert_carries_its_dsn(&messages, &dsn);
                run_ok("metlog_sentry_dsn", None, &messages);
                let requests = requests_for(&dsn.key);
                assert_eq!(requests.len(), 2, "each once");
                for (req, msg) in requests.iter().zip(&messages) {
                    assert_delivered(req, msg, &dsn.key, "9");
                    assert_eq!(
                        decode_event(&req.body)["message"],
                        "panic: boom in a thread"
                    );
                }
            },
        );
    }
}
