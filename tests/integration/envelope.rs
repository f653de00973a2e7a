//! The envelope on the wire: keys, JSON types, timestamp format, and a golden
//! comparison with messages made by the real metlog-py 0.10.0
//! (`scripts/metlog-py-golden.sh`).

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metlog::sender::CaptureSender;
use metlog::{Client, Message, Severity};
use serde_json::{json, Value};

const KEYS: [&str; 9] = [
    "type",
    "timestamp",
    "logger",
    "severity",
    "payload",
    "fields",
    "env_version",
    "metlog_pid",
    "metlog_hostname",
];

fn capture_client() -> (Client, CaptureSender) {
    let capture = CaptureSender::new();
    let client = Client::builder("myapp").sender(capture.clone()).build();
    (client, capture)
}

fn is_metlog_timestamp(text: &str) -> bool {
    // 2026-11-25T05:27:11.123456Z
    let b = text.as_bytes();
    let digit = |i: usize| b[i].is_ascii_digit();
    b.len() == 27
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| digit(i))
        && (20..26).all(digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z'
}

#[test]
fn every_message_has_exactly_the_nine_keys_with_their_json_types() {
    let (client, capture) = capture_client();
    client.incr("requests");
    drop(client.timer("t"));
    client.info("hello");
    client.metlog("custom").send();
    client.exception("failed", &io::Error::other("disk"));

    let messages = capture.json();
    assert_eq!(messages.len(), 5);
    for msg in &messages {
        let obj = msg.as_object().expect("a JSON object");
        let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected, "{msg}");

        assert!(msg["type"].is_string());
        assert!(
            is_metlog_timestamp(msg["timestamp"].as_str().unwrap()),
            "{msg}"
        );
        assert_eq!(msg["logger"], "myapp");
        assert!(msg["severity"].as_u64().is_some_and(|s| s <= 7), "{msg}");
        assert!(msg["payload"].is_string());
        assert!(msg["fields"].is_object());
        assert_eq!(msg["env_version"], "0.8");
        assert_eq!(msg["metlog_pid"], std::process::id());
        assert!(msg["metlog_pid"].is_u64());
        assert!(!msg["metlog_hostname"].as_str().unwrap().is_empty());
    }
}

#[test]
fn keys_are_written_in_metlog_py_order() {
    let (client, capture) = capture_client();
    client.incr("x");
    let line = capture.messages()[0].to_json();
    let positions: Vec<usize> = KEYS
        .iter()
        .map(|k| line.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
}

#[test]
fn counter_and_timer_payloads_and_fields() {
    let (client, capture) = capture_client();
    client.incr("requests");
    client.counter("bytes").count(-7).send();
    client.timer_send("db.query", Duration::from_micros(12_499));
    client.timer_send("db.slow", Duration::from_micros(12_500));

    let m = capture.json();
    assert_eq!(m[0]["payload"], "1");
    assert_eq!(m[0]["fields"], json!({"name": "requests", "rate": 1.0}));
    assert_eq!(m[1]["payload"], "-7");
    assert_eq!(m[2]["type"], "timer");
    assert_eq!(m[2]["payload"], "12", "12.499 ms rounds down");
    assert_eq!(
        m[3]["payload"], "13",
        "12.5 ms rounds up, as metlog-py's round()"
    );
    assert_eq!(m[2]["fields"]["name"], "db.query");
    // The rate is a JSON number, written like Python's float: 1.0.
    assert!(m[2]["fields"]["rate"].is_f64());
    assert!(capture.messages()[2].to_json().contains(r#""rate":1.0"#));
}

#[test]
fn timestamp_is_utc_rfc3339_with_microseconds() {
    let (client, capture) = capture_client();
    let at = UNIX_EPOCH + Duration::new(1_795_584_431, 123_456_789);
    client.metlog("t").timestamp(at).send();
    assert_eq!(
        capture.json()[0]["timestamp"],
        "2026-11-25T05:27:11.123456Z"
    );

    let before = SystemTime::now();
    client.info("now");
    let stamped = capture.messages()[1].timestamp;
    assert!(stamped >= before && stamped <= SystemTime::now());
}

#[test]
fn messages_round_trip_through_json() {
    let (client, capture) = capture_client();
    client
        .metlog("mixed")
        .payload("ünïcode \"quoted\"\n")
        .severity(Severity::Notice)
        .logger("other")
        .field("int", -3)
        .field("big", u64::MAX)
        .field("float", 2.5)
        .field("flag", false)
        .field("none", Option::<&str>::None)
        .field("list", json!([1, {"a": "b"}]))
        .send();
    let original = capture.messages().remove(0);
    let parsed = Message::from_json(&original.to_json()).unwrap();
    assert_eq!(parsed, original.truncated_to_micros());
}

#[test]
fn non_finite_numbers_still_give_valid_json() {
    let (client, capture) = capture_client();
    client
        .metlog("nums")
        .field("nan", f64::NAN)
        .field("inf", f64::INFINITY)
        .send();
    client.counter("c").rate(f64::NAN).send();
    for msg in capture.messages() {
        let value: Value = serde_json::from_str(&msg.to_json()).expect("valid JSON");
        assert!(value["fields"].is_object());
    }
    assert_eq!(capture.json()[0]["fields"]["nan"], Value::Null);
}

#[test]
fn parses_what_metlog_py_writes() {
    let line = r#"{"type": "timer", "timestamp": "2012-06-01T10:00:00", "logger": "py",
        "severity": 6, "payload": "12", "fields": {"name": "x", "rate": 1.0},
        "env_version": "0.8", "metlog_pid": 12, "metlog_hostname": "h"}"#;
    let msg = Message::from_json(line).unwrap();
    assert_eq!(msg.kind, "timer");
    assert_eq!(
        msg.timestamp,
        UNIX_EPOCH + Duration::from_secs(1_338_544_800)
    );
    assert_eq!(msg.fields["rate"], 1.0);
    assert_eq!(msg.pid, 12);

    let bad = line.replace("\"severity\": 6", "\"severity\": 9");
    let err = Message::from_json(&bad).unwrap_err().to_string();
    assert!(err.contains("severity"), "{err}");
    let bad = line.replace("2012-06-01T10:00:00", "June 1st");
    let err = Message::from_json(&bad).unwrap_err().to_string();
    assert!(err.contains("invalid timestamp"), "{err}");
    // A zone beyond ±23:59 is no time at all.
    let bad = line.replace("2012-06-01T10:00:00", "2012-06-01T10:00:00+99:99");
    let err = Message::from_json(&bad).unwrap_err().to_string();
    assert!(err.contains("not within ±23:59"), "{err}");
}

/// Payloads as metlog-py's plugins write them: metlog-psutils sends
/// `"payload": 12345.5`, logstash's fixtures `"payload": 7`; any JSON value
/// is read as its text (it was refused: "expected a string").
#[test]
fn parses_payloads_that_are_not_strings() {
    let line = |payload: &str| {
        format!(
            r#"{{"severity": 6, "timestamp": "2013-01-18T19:58:24.123456Z", "metlog_hostname": "h",
            "fields": {{"logger": "psutil.cpu.h.1", "name": "cpu", "rate": "1"}}, "metlog_pid": 1,
            "logger": "app", "type": "procinfo", "payload": {payload}, "env_version": "0.8"}}"#
        )
    };
    for (payload, text) in [
        ("12345.5", "12345.5"),
        ("7", "7"),
        ("-3", "-3"),
        ("1e+16", "1e+16"),
        // Beyond 64 bits: as written, not rounded to a float's 17 digits.
        (
            "123456789012345678901234567890",
            "123456789012345678901234567890",
        ),
        ("-98765432109876543210", "-98765432109876543210"),
        ("true", "true"),
        ("null", ""),
        (r#"{"a": [1, 2]}"#, r#"{"a":[1,2]}"#),
        (r#""text""#, "text"),
    ] {
        let msg = Message::from_json(&line(payload)).unwrap_or_else(|e| panic!("{payload}: {e}"));
        assert_eq!(msg.payload, text, "{payload}");
    }
}

/// The same calls as the Python scenario in `scripts/metlog-py-golden.sh`.
fn metlog_py_scenario(client: &Client) {
    client.incr("requests");
    client
        .counter("bytes")
        .count(512)
        .field("route", "/login")
        .send();
    client.timer_send("db.query", Duration::from_millis(12));
    client
        .metlog("deploy")
        .payload("v1.2.3")
        .severity(Severity::Notice)
        .logger("deployer")
        .fields([
            ("build", json!(42)),
            ("ok", json!(true)),
            ("ratio", json!(0.25)),
        ])
        .send();
    client.debug("d");
    client.info("i");
    client.warn("w");
    client.error("e");
    client.critical("c");
    client.exception("boom", &io::Error::other("cause"));
    // Timers round half away from zero, as Python 2's round() (12.5 ms → 13).
    client.timer_send("ctx.timer", Duration::from_micros(12_500));
    client
        .timer_send_with("ctx.timer2", Duration::from_micros(12_499))
        .logger("timerlog")
        .severity(Severity::Error)
        .field("a", 1)
        .send();
    client.timer_send("ctx.timer3", Duration::from_micros(13_500));
    client
        .timer_send_with("db.query", 12.5)
        .field("shard", 3)
        .field("rate", 0.5)
        .logger("dblog")
        .severity(Severity::Warning)
        .send();
    client.timer_send_with("frac", 1.0 / 3.0).send();
    client.timer_send_with("whole.float", 12.0).send();
    client.timer_send("zero", Duration::ZERO);
    client
        .counter("neg")
        .count(-3)
        .logger("other")
        .severity(Severity::Debug)
        .send();
    metlog::with_client(client, || {
        incr_kwargs();
        timeit_kwargs();
    });
    client
        .metlog("unicode")
        .payload("café ☃")
        .field("ké", "vé")
        .send();
    client
        .metlog("nested")
        .fields([
            ("list", json!([1, "two", 3.0])),
            ("dict", json!({"x": null})),
            ("f", json!(0.1 + 0.2)),
        ])
        .send();
    client
        .metlog("ctrl")
        .payload("tab\tnl\nquote\" bs\\ slash/ \u{1}")
        .send();
    // metlog-py's `exc_info`: the message, a line break, the traceback.
    client.error_with("checkout failed", &ValueError);
    client.critical_with("checkout failed", &ValueError);
    client.exception("checkout failed", &ValueError);
    client.exception_at(Severity::Warning, "ends with a line break\n", &ValueError);
    client.counter("credits").count(2.5).send();
    client.counter("whole.float").count(2.0).send();
}

/// An error named as Python names the one raised in the Python scenario.
#[derive(Debug)]
struct ValueError;

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("db down")
    }
}

impl std::error::Error for ValueError {}

/// Whether our payload of an error is laid out as metlog-py's, as far as it
/// maps: the text, a line break, then the error — ours `Type: message`
/// with a line per source, theirs a traceback whose last line is the
/// exception (`ValueError: db down`). A Python traceback's frames (where
/// the exception was raised) have no Rust counterpart: ours is a backtrace
/// of the call, after the chain, only when `RUST_LIB_BACKTRACE` or
/// `RUST_BACKTRACE` ask for one.
fn same_error_layout(ours: &str, theirs: &str) -> bool {
    let ours = ours.split("\nStack backtrace:\n").next().unwrap();
    let (text, traceback) = theirs.split_once('\n').unwrap();
    match traceback.strip_prefix("Traceback (most recent call last):\n") {
        Some(frames) => ours == format!("{text}\n{}", frames.lines().last().unwrap()),
        // An exception without frames: the same text.
        None if traceback != "None" => ours == theirs,
        // `exception` outside an `except` block: Python's `None`; an error
        // is always given here.
        None => ours.starts_with(&format!("{text}\n")),
    }
}

/// metlog-py's `@incr_count(name='qdo.foo', count=5, logger='somelogger', severity=2)`.
#[metlog::incr(name = "qdo.foo", count = 5, logger = "somelogger", severity = 2)]
fn incr_kwargs() -> i32 {
    1
}

/// metlog-py's `@timeit(name='qdo.timeit', logger='timeit_logger', severity=5, fields=…)`.
#[metlog::timer(
    name = "qdo.timeit",
    logger = "timeit_logger",
    severity = 5,
    fields(anumber = 42, atext = "foo")
)]
fn timeit_kwargs() -> i32 {
    1
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[test]
fn indistinguishable_from_metlog_py_golden_messages() {
    let golden: Vec<Value> = include_str!("../fixtures/metlog-py-0.10.0.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (client, capture) = capture_client();
    metlog_py_scenario(&client);
    let mut ours = capture.json();
    assert_eq!(ours.len(), golden.len());

    for (ours, theirs) in ours.iter_mut().zip(&golden) {
        // What our macros add on purpose (DESIGN.md): the function's outcome.
        if ["qdo.foo", "qdo.timeit"].contains(&theirs["fields"]["name"].as_str().unwrap_or("")) {
            let outcome = ours["fields"].as_object_mut().unwrap().remove("outcome");
            assert_eq!(outcome, Some(json!("ok")));
        }
        let (o, t) = (ours.as_object().unwrap(), theirs.as_object().unwrap());
        // The same keys; their order aside (Python 2 writes hash order).
        let sorted = |object: &serde_json::Map<String, Value>| {
            let mut keys: Vec<String> = object.keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(sorted(o), sorted(t), "same keys");
        for (key, theirs_value) in t {
            assert_eq!(
                json_type(&o[key]),
                json_type(theirs_value),
                "type of {key} in {ours}"
            );
        }
        for key in ["type", "logger", "severity", "env_version"] {
            assert_eq!(o[key], t[key], "{key}");
        }
        assert!(is_metlog_timestamp(t["timestamp"].as_str().unwrap()));
        if t["type"] == "oldstyle" && o["fields"].get("error").is_some() {
            let (ours, theirs) = (
                o["payload"].as_str().unwrap(),
                t["payload"].as_str().unwrap(),
            );
            assert!(same_error_layout(ours, theirs), "{ours:?} / {theirs:?}");
        } else if t["fields"]["name"] == "qdo.timeit" {
            // A real timer: the elapsed time is ours (Python's clock was faked).
            assert!(o["payload"].as_str().unwrap().parse::<u64>().is_ok());
            assert_eq!(o["fields"], t["fields"], "fields of {ours}");
        } else {
            assert_eq!(o["payload"], t["payload"]);
            assert_eq!(o["fields"], t["fields"], "fields of {ours}");
        }
    }
}
