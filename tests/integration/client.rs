//! Every client method, sampling, disabled timers, filters and failure
//! handling, observed through what a sender receives.

use crate::support;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metlog::sender::{self, CaptureSender, SendError, SendErrorKind};
use metlog::{filter, Client, Message, Severity};
use serde_json::json;

fn capture_client() -> (Client, CaptureSender) {
    let capture = CaptureSender::new();
    let client = Client::builder("myapp").sender(capture.clone()).build();
    (client, capture)
}

#[test]
fn builder_defaults_and_settings() {
    let (client, _) = capture_client();
    assert_eq!(client.logger(), "myapp");
    assert_eq!(client.severity(), Severity::Informational);
    assert!(client.is_active());

    let capture = CaptureSender::new();
    let client = Client::builder("svc")
        .severity(Severity::Notice)
        .sender(capture.clone())
        .build();
    client.incr("x");
    let msg = &capture.messages()[0];
    assert_eq!(msg.severity, Severity::Notice);
    assert_eq!(msg.logger, "svc");
}

#[test]
fn metlog_builder_sets_every_part() {
    let (client, capture) = capture_client();
    let at = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    client
        .metlog("audit")
        .payload("user logged in")
        .severity(Severity::Warning)
        .logger("auth")
        .field("user", 42)
        .fields([("ip", "10.0.0.1"), ("method", "password")])
        .timestamp(at)
        .send();
    client.metlog("bare").send();

    let m = capture.json();
    assert_eq!(m[0]["type"], "audit");
    assert_eq!(m[0]["payload"], "user logged in");
    assert_eq!(m[0]["severity"], 4);
    assert_eq!(m[0]["logger"], "auth");
    assert_eq!(
        m[0]["fields"],
        json!({"user": 42, "ip": "10.0.0.1", "method": "password"})
    );
    assert_eq!(m[0]["timestamp"], "2001-09-09T01:46:40.000000Z");
    assert_eq!(m[1]["payload"], "");
    assert_eq!(m[1]["severity"], 6);
    assert_eq!(m[1]["logger"], "myapp");
    assert_eq!(m[1]["fields"], json!({}));
}

#[test]
fn counter_builder_sets_count_rate_fields_severity_logger() {
    let (client, capture) = capture_client();
    client
        .counter("jobs")
        .count(3)
        .rate(1.0)
        .field("queue", "mail")
        .severity(Severity::Debug)
        .logger("worker")
        .send();
    let m = &capture.json()[0];
    assert_eq!(m["type"], "counter");
    assert_eq!(m["payload"], "3");
    assert_eq!(m["severity"], 7);
    assert_eq!(m["logger"], "worker");
    assert_eq!(
        m["fields"],
        json!({"queue": "mail", "name": "jobs", "rate": 1.0})
    );
}

#[test]
fn counter_name_and_rate_win_over_user_fields_of_the_same_name() {
    let (client, capture) = capture_client();
    client
        .counter("real")
        .field("name", "fake")
        .field("rate", 9)
        .send();
    let m = &capture.json()[0];
    assert_eq!(m["fields"]["name"], "real");
    assert_eq!(m["fields"]["rate"], 1.0);
}

#[test]
fn timer_guard_sends_on_drop_with_elapsed_millis() {
    let (client, capture) = capture_client();
    {
        let _t = client
            .timer("sleepy")
            .field("k", "v")
            .severity(Severity::Notice);
        std::thread::sleep(Duration::from_millis(30));
    }
    let m = &capture.json()[0];
    assert_eq!(m["type"], "timer");
    assert_eq!(m["severity"], 5);
    assert_eq!(
        m["fields"],
        json!({"k": "v", "name": "sleepy", "rate": 1.0})
    );
    let ms: u64 = m["payload"].as_str().unwrap().parse().unwrap();
    assert!((30..5_000).contains(&ms), "slept 30 ms, timer says {ms}");
}

#[test]
fn timer_stop_cancel_elapsed_and_set_field() {
    let (client, capture) = capture_client();
    let mut t = client.timer("stopped").logger("other");
    assert!(t.is_running());
    assert!(t.elapsed().is_some());
    t.set_field("outcome", "ok");
    let elapsed = t.stop().expect("a running timer measures");
    assert!(elapsed < Duration::from_secs(5));

    client.timer("cancelled").cancel();

    let m = capture.json();
    assert_eq!(m.len(), 1, "cancel sends nothing");
    assert_eq!(m[0]["logger"], "other");
    assert_eq!(m[0]["fields"]["outcome"], "ok");
    assert_eq!(m[0]["fields"]["name"], "stopped");
}

#[test]
fn timer_send_reports_a_measured_duration() {
    let (client, capture) = capture_client();
    client.timer_send("external", Duration::from_millis(250));
    let m = &capture.json()[0];
    assert_eq!(m["type"], "timer");
    assert_eq!(m["payload"], "250");
    assert_eq!(m["fields"], json!({"name": "external", "rate": 1.0}));
}

#[test]
fn log_style_methods_send_oldstyle_messages_at_their_severity() {
    let (client, capture) = capture_client();
    client.debug("d");
    client.info("i");
    client.warn("w");
    client.error("e");
    client.critical("c");
    client.log(Severity::Notice, format!("n{}", 1));
    let got: Vec<(String, u64, String)> = capture
        .json()
        .iter()
        .map(|m| {
            (
                m["type"].as_str().unwrap().to_owned(),
                m["severity"].as_u64().unwrap(),
                m["payload"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = [("d", 7), ("i", 6), ("w", 4), ("e", 3), ("c", 2), ("n1", 5)];
    assert_eq!(got.len(), expect.len());
    for ((kind, sev, payload), (want_payload, want_sev)) in got.iter().zip(expect) {
        assert_eq!(kind, "oldstyle");
        assert_eq!(*sev, want_sev);
        assert_eq!(payload, want_payload);
    }
}

#[test]
fn format_macros_with_a_client_and_with_the_current_client() {
    let (client, capture) = capture_client();
    let n = 3;
    metlog::debug!(client, "debug {n}");
    metlog::info!(client, "info {}", n + 1);
    metlog::warn!(&client, "warn");
    metlog::error!(client, "error {:>3}", 5);
    metlog::critical!(client, "critical {n:?}",);
    metlog::with_client(&client, || {
        metlog::info!("current {}", "scope");
        metlog::error!("plain");
    });
    let got: Vec<(String, u64)> = capture
        .json()
        .iter()
        .map(|m| {
            (
                m["payload"].as_str().unwrap().to_owned(),
                m["severity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("debug 3".to_owned(), 7),
            ("info 4".to_owned(), 6),
            ("warn".to_owned(), 4),
            ("error   5".to_owned(), 3),
            ("critical 3".to_owned(), 2),
            ("current scope".to_owned(), 6),
            ("plain".to_owned(), 3),
        ]
    );
}

#[test]
fn format_macros_without_a_client_do_not_evaluate_formatting() {
    struct Loud;
    impl std::fmt::Display for Loud {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            panic!("formatted without a client");
        }
    }
    // No global client in this test binary, no scope on this thread.
    metlog::info!("{}", Loud);
}

#[derive(Debug)]
struct Wrapped {
    what: &'static str,
    source: Option<Box<Wrapped>>,
}
impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }
}
impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// An exception's payload without the backtrace a `RUST_LIB_BACKTRACE` or
/// `RUST_BACKTRACE` in the test's environment adds (tests/process/exception_backtrace.rs
/// tests it).
fn before_backtrace(payload: &str) -> &str {
    payload.split("\nStack backtrace:\n").next().unwrap()
}

/// metlog-py's `exception(msg)` sends `msg`, a line break and the traceback
/// (`Traceback (most recent call last): … ValueError: db down`): here
/// `text`, then the error as `Type: message`, then a line per source.
#[test]
fn exception_carries_the_source_chain_at_alert() {
    let (client, capture) = capture_client();
    let err = Wrapped {
        what: "cannot save order",
        source: Some(Box::new(Wrapped {
            what: "database unavailable",
            source: Some(Box::new(Wrapped {
                what: "connection refused",
                source: None,
            })),
        })),
    };
    client.exception("checkout failed", &err);
    let dyn_err: Box<dyn std::error::Error + Send + Sync> = Box::new(io::Error::other("x"));
    client.exception("boxed", &*dyn_err);

    let m = &capture.json()[0];
    assert_eq!(m["type"], "oldstyle");
    assert_eq!(m["severity"], 1);
    assert_eq!(
        before_backtrace(m["payload"].as_str().unwrap()),
        "checkout failed\nWrapped: cannot save order\nCaused by: database unavailable\n\
         Caused by: connection refused"
    );
    assert_eq!(m["fields"]["error"], "cannot save order");
    assert_eq!(
        m["fields"]["causes"],
        json!(["database unavailable", "connection refused"])
    );
    assert!(m["fields"]["error_type"]
        .as_str()
        .unwrap()
        .ends_with("Wrapped"));
    // A trait object's type is not known: its message alone.
    assert_eq!(
        before_backtrace(capture.json()[1]["payload"].as_str().unwrap()),
        "boxed\nx"
    );
}

/// An `anyhow::Error` (its context chain whole) and a `Box<dyn Error>`,
/// passed as `&*err`, at a severity of the caller's choosing; their type
/// reads as the trait object it is, without paths.
#[test]
fn exception_takes_anyhow_and_boxed_errors_at_a_chosen_severity() {
    let (client, capture) = capture_client();
    let err = anyhow::Error::new(io::Error::other("connection refused"))
        .context("database unavailable")
        .context("cannot save order");
    client.exception_at(Severity::Error, "checkout failed", &*err);
    let boxed: Box<dyn std::error::Error> = Box::new(io::Error::other("disk full"));
    client.exception_at(Severity::Critical, "cannot write", &*boxed);
    client.exception("default", &*boxed);

    let sent = capture.json();
    let payload = |i: usize| before_backtrace(sent[i]["payload"].as_str().unwrap()).to_owned();
    assert_eq!(
        payload(0),
        "checkout failed\ncannot save order\nCaused by: database unavailable\n\
         Caused by: connection refused"
    );
    assert_eq!(sent[0]["severity"], Severity::Error as u8);
    assert_eq!(
        sent[0]["fields"]["causes"],
        json!(["database unavailable", "connection refused"])
    );
    assert_eq!(sent[0]["fields"]["error_type"], "dyn Error + Send + Sync");
    assert_eq!(payload(1), "cannot write\ndisk full");
    assert_eq!(sent[1]["severity"], Severity::Critical as u8);
    assert_eq!(sent[1]["fields"]["error_type"], "dyn Error");
    assert_eq!(sent[2]["severity"], Severity::Alert as u8);
}

/// An error named as Python names the one of issue 23's example.
#[derive(Debug)]
struct ValueError;

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("db down")
    }
}

impl std::error::Error for ValueError {}

/// metlog-py's `error(msg, exc_info=True)` and `critical(msg, exc_info=True)`
/// send the message and the traceback at Error and Critical: `error_with`
/// and `critical_with` send an `oldstyle` message laid out as `exception`'s,
/// at theirs.
#[test]
fn error_and_critical_carry_an_error_as_metlog_pys_exc_info() {
    let (client, capture) = capture_client();
    client.error_with("checkout failed", &ValueError);
    let err = Wrapped {
        what: "cannot save order",
        source: Some(Box::new(Wrapped {
            what: "database unavailable",
            source: None,
        })),
    };
    client.critical_with(format_args!("order {} failed", 42), &err);

    let sent = capture.json();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (&sent[0]["type"], &sent[0]["severity"]),
        (&json!("oldstyle"), &json!(Severity::Error as u8))
    );
    assert_eq!(
        before_backtrace(sent[0]["payload"].as_str().unwrap()),
        "checkout failed\nValueError: db down"
    );
    assert_eq!(sent[0]["fields"]["error"], "db down");
    assert_eq!(sent[0]["fields"]["causes"], json!([]));
    assert_eq!(sent[1]["severity"], Severity::Critical as u8);
    assert_eq!(
        before_backtrace(sent[1]["payload"].as_str().unwrap()),
        "order 42 failed\nWrapped: cannot save order\nCaused by: database unavailable"
    );
    assert_eq!(sent[1]["fields"]["causes"], json!(["database unavailable"]));
}

/// As metlog-py: no second line break after a text that ends with one; an
/// error with an empty message is its type alone (Python's `ValueError`); a
/// generic type keeps its parameters.
#[test]
fn exception_layout_edges() {
    #[derive(Debug)]
    struct Empty;
    impl std::fmt::Display for Empty {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Ok(())
        }
    }
    impl std::error::Error for Empty {}
    #[derive(Debug)]
    struct Generic<T>(T);
    impl<T> std::fmt::Display for Generic<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("generic")
        }
    }
    impl<T: std::fmt::Debug> std::error::Error for Generic<T> {}

    let (client, capture) = capture_client();
    client.exception("ends with a line break\n", &ValueError);
    client.exception("empty", &Empty);
    client.exception("generic", &Generic(ValueError));
    client.exception("by reference", &&ValueError);
    let payloads: Vec<String> = capture
        .messages()
        .iter()
        .map(|m| before_backtrace(&m.payload).to_owned())
        .collect();
    assert_eq!(
        payloads,
        [
            "ends with a line break\nValueError: db down",
            "empty\nEmpty",
            "generic\nGeneric<integration::client::ValueError>: generic",
            "by reference\nValueError: db down",
        ]
    );
}

/// metlog-py's `incr(name, count=2.5)` sends payload `"2.5"` (Python's
/// `str`), and statsd adds fractions: a counter takes one, and any integer
/// type. A fraction that is no finite number is not sent: counted failed,
/// reported.
#[test]
fn a_counter_counts_fractions_and_any_integer() {
    support::collect_reports();
    let (client, capture) = capture_client();
    client
        .counter("credits")
        .count(2.5)
        .field("route", "/pay")
        .logger("billing")
        .severity(Severity::Notice)
        .send();
    client.counter("whole.float").count(2.0).send();
    client.counter("third").count(1.0_f32 / 4.0).send();
    client.counter("items").count([1, 2, 3].len()).send();
    client.counter("huge").count(u64::MAX).send();
    client.counter("neg").count(-3_i8).send();
    let sent = capture.messages();
    let m = &sent[0];
    assert_eq!((m.kind.as_ref(), m.payload.as_ref()), ("counter", "2.5"));
    assert_eq!(
        (m.logger.as_ref(), m.severity),
        ("billing", Severity::Notice)
    );
    assert_eq!(
        m.to_json_value()["fields"],
        json!({"route": "/pay", "name": "credits", "rate": 1.0})
    );
    let payloads: Vec<&str> = sent[1..].iter().map(|m| m.payload.as_ref()).collect();
    assert_eq!(payloads, ["2.0", "0.25", "3", "18446744073709551615", "-3"]);
    assert_eq!(
        sent[1].to_json_value()["fields"],
        json!({"name": "whole.float", "rate": 1.0})
    );

    client.counter("bad").count(f64::NAN).send();
    client.counter("bad").count(f64::INFINITY).send();
    assert_eq!(capture.len(), 6, "not sent");
    assert_eq!(client.stats().failed, 2);
    let reports = support::reports();
    assert!(
        reports
            .iter()
            .any(|r| r.contains("counter \"bad\": NaN is not a finite number")),
        "{reports:?}"
    );
}

/// `gauge` sets, `gauge_change` moves by a signed amount (its payload
/// always signed, marked `change`); a value that is not a finite number is
/// not sent but counted as failed.
#[test]
fn gauges_set_and_change() {
    let (client, capture) = capture_client();
    client.gauge("queue.depth", 42.0);
    client.gauge("temperature", -3.5);
    client.gauge_change("connections", 1.0);
    client.gauge_change("connections", -2.0);
    client.gauge("broken", f64::NAN);
    let sent = capture.json();
    let view: Vec<_> = sent
        .iter()
        .map(|m| {
            let f = &m["fields"];
            (
                m["type"].clone(),
                f["name"].clone(),
                m["payload"].clone(),
                f["change"].clone(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            (
                json!("gauge"),
                json!("queue.depth"),
                json!("42"),
                json!(null)
            ),
            (
                json!("gauge"),
                json!("temperature"),
                json!("-3.5"),
                json!(null)
            ),
            (
                json!("gauge"),
                json!("connections"),
                json!("+1"),
                json!(true)
            ),
            (
                json!("gauge"),
                json!("connections"),
                json!("-2"),
                json!(true)
            ),
        ]
    );
    assert!(sent.iter().all(|m| m["fields"]["rate"] == 1.0));
    let stats = client.stats();
    assert_eq!((stats.sent, stats.failed), (4, 1));
}

#[test]
fn sampling_keeps_about_the_rate_and_records_it() {
    let (client, capture) = capture_client();
    for _ in 0..10_000 {
        client.counter("sampled").rate(0.01).send();
    }
    let kept = capture.len();
    // Binomial(10000, 0.01): mean 100, sd ~9.95; 40..=160 is over 6 sd.
    assert!(
        (40..=160).contains(&kept),
        "kept {kept} of 10000 at rate 0.01"
    );
    assert!(capture.json().iter().all(|m| m["fields"]["rate"] == 0.01));

    capture.clear();
    for _ in 0..10_000 {
        drop(client.timer("t").rate(0.5));
    }
    let kept = capture.len();
    // mean 5000, sd 50.
    assert!(
        (4_700..=5_300).contains(&kept),
        "kept {kept} of 10000 at rate 0.5"
    );
}

#[test]
fn sampling_edges() {
    let (client, capture) = capture_client();
    for _ in 0..1000 {
        client.counter("never").rate(0.0).send();
        client.counter("negative").rate(-1.0).send();
    }
    assert_eq!(capture.len(), 0);
    client.counter("always").rate(1.0).send();
    client.counter("above").rate(2.0).send();
    assert_eq!(capture.len(), 2);
}

#[test]
fn sampling_draws_independently_on_every_thread() {
    let (client, capture) = capture_client();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..2_500 {
                    client.counter("mt").rate(0.1).send();
                }
            });
        }
    });
    let kept = capture.len();
    // mean 1000, sd 30.
    assert!(
        (820..=1_180).contains(&kept),
        "kept {kept} of 10000 at rate 0.1"
    );
}

#[test]
fn disabled_timers_by_name_and_star() {
    let capture = CaptureSender::new();
    let client = Client::builder("app")
        .sender(capture.clone())
        .disabled_timers(["slow", "other"])
        .build();
    assert!(client.is_timer_disabled("slow"));
    let t = client.timer("slow");
    assert!(!t.is_running());
    assert_eq!(t.elapsed(), None, "a disabled timer reads no clock");
    assert_eq!(t.stop(), None);
    client.timer_send("other", Duration::from_millis(5));
    drop(client.timer("enabled"));
    client.incr("slow"); // counters are not timers
    let names: Vec<_> = capture
        .json()
        .iter()
        .map(|m| m["fields"]["name"].clone())
        .collect();
    assert_eq!(names, [json!("enabled"), json!("slow")]);

    let capture = CaptureSender::new();
    let client = Client::builder("app")
        .sender(capture.clone())
        .disabled_timers(["*"])
        .build();
    drop(client.timer("anything"));
    client.timer_send("anything", Duration::from_millis(1));
    client.incr("counted");
    assert_eq!(capture.len(), 1);
}

fn kinds_and_severities(capture: &CaptureSender) -> Vec<(String, u8)> {
    capture
        .messages()
        .into_iter()
        .map(|m| (m.kind.to_string(), m.severity.as_u8()))
        .collect()
}

fn send_mix(client: &Client) {
    client.metlog("a").severity(Severity::Debug).send();
    client.metlog("a").severity(Severity::Error).send();
    client.metlog("b").severity(Severity::Debug).send();
    client.metlog("b").severity(Severity::Error).send();
    client.metlog("c").severity(Severity::Warning).send();
}

#[test]
fn filter_severity_max() {
    let capture = CaptureSender::new();
    let client = Client::builder("app")
        .sender(capture.clone())
        .filter(filter::severity_max(Severity::Warning))
        .build();
    send_mix(&client);
    assert_eq!(
        kinds_and_severities(&capture),
        [("a".into(), 3), ("b".into(), 3), ("c".into(), 4)]
    );
    assert_eq!(client.stats().filtered, 2);
}

#[test]
fn filter_type_whitelist_and_blacklist() {
    let capture = CaptureSender::new();
    let client = Client::builder("app")
        .sender(capture.clone())
        .filter(filter::type_whitelist(["a", "c"]))
        .build();
    send_mix(&client);
    assert_eq!(
        kinds_and_severities(&capture),
        [("a".into(), 7), ("a".into(), 3), ("c".into(), 4)]
    );

    let capture = CaptureSender::new();
    let client = Client::builder("app")
        .sender(capture.clone())
        .filter(filter::type_blacklist(vec!["a".to_string()]))
        .build();
    send_mix(&client);
    assert_eq!(
        kinds_and_severities(&capture),
        [("b".into(), 7), ("b".into(), 3), ("c".into(), 4)]
    );
}

#[test]
fn filter_type_severity_max() {
    let capture = CaptureSender::new();
    let client = Client::builder("app")
        .sender(capture.clone())
        .filter(filter::type_severity_max([
            ("a", Severity::Error),
            ("c", Severity::Error),
        ]))
        .build();
    send_mix(&client);
    assert_eq!(
        kinds_and_severities(&capture),
        [("a".into(), 3), ("b".into(), 7), ("b".into(), 3)]
    );
}

#[test]
fn filters_run_in_order_and_stop_at_the_first_rejection() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let capture = CaptureSender::new();
    let client = Client::builder("app")
        .sender(capture.clone())
        .filter(filter::type_blacklist(["noise"]))
        .filter(move |_: &Message| {
            seen.fetch_add(1, Ordering::SeqCst);
            true
        })
        .filter(|m: &Message| !m.payload.contains("secret"))
        .build();
    client.metlog("noise").send();
    client.info("fine");
    client.info("a secret");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the closure never saw the blacklisted one"
    );
    assert_eq!(capture.len(), 1);
    assert_eq!(client.stats().filtered, 2);
    assert_eq!(client.stats().sent, 1);
}

#[test]
fn failing_sender_never_reaches_the_caller_and_is_counted() {
    support::collect_reports();
    let client = Client::builder("app")
        .sender(sender::from_fn(|_| {
            Err(SendError::io(
                "cannot reach router",
                io::ErrorKind::ConnectionRefused.into(),
            ))
        }))
        .build();
    client.incr("a");
    client.info("b");
    drop(client.timer("c"));
    client.flush();
    let stats = client.stats();
    assert_eq!((stats.sent, stats.failed, stats.dropped), (0, 3, 0));
}

#[test]
fn a_sender_in_a_box_or_arc_is_named_by_what_it_holds() {
    support::collect_reports();
    struct Unreachable;
    impl sender::Sender for Unreachable {
        fn send(&self, _: metlog::Record<'_>) -> Result<(), SendError> {
            Err(SendError::io(
                "no route",
                io::ErrorKind::ConnectionRefused.into(),
            ))
        }
    }
    let boxed: Box<dyn sender::Sender> = Box::new(Unreachable);
    let client = Client::builder("boxed-sender-app").sender(boxed).build();
    assert_eq!(client.sender_name(), "Unreachable");
    client.incr("a");
    let report = support::reports()
        .into_iter()
        .find(|r| r.contains("boxed-sender-app"))
        .expect("the failure is reported");
    assert!(report.contains("(Unreachable)"), "{report}");

    let shared: Arc<Box<dyn sender::Sender>> = Arc::new(Box::new(CaptureSender::new()));
    let client = Client::builder("app").sender(shared).build();
    assert_eq!(client.sender_name(), "CaptureSender");
    let client = Client::builder("app").sender(sender::NullSender).build();
    assert_eq!(client.sender_name(), "NullSender");
}

#[test]
fn panicking_sender_and_filter_never_unwind_into_the_caller() {
    support::collect_reports();
    let client = Client::builder("app")
        .sender(sender::from_fn(|m: Message| {
            if m.kind == "boom" {
                panic!("sender bug");
            }
            Ok(())
        }))
        .filter(|m: &Message| {
            if m.kind == "filter-boom" {
                panic!("filter bug");
            }
            true
        })
        .build();
    client.metlog("boom").send();
    client.metlog("filter-boom").send();
    client.incr("fine");
    let stats = client.stats();
    assert_eq!((stats.sent, stats.failed), (1, 2));
}

#[test]
fn full_sender_counts_drops() {
    let capture = CaptureSender::with_capacity(2);
    let client = Client::builder("app").sender(capture.clone()).build();
    for _ in 0..5 {
        client.incr("x");
    }
    assert_eq!(capture.len(), 2);
    assert_eq!(capture.dropped(), 3);
    let stats = client.stats();
    assert_eq!((stats.sent, stats.dropped, stats.failed), (2, 3, 0));
}

#[test]
fn send_error_kinds_decide_the_counter() {
    support::collect_reports();
    for (kind, dropped, failed) in [
        (SendErrorKind::Full, 1, 0),
        (SendErrorKind::Io, 0, 1),
        (SendErrorKind::Encode, 0, 1),
        (SendErrorKind::Closed, 0, 1),
        (SendErrorKind::Other, 0, 1),
    ] {
        let client = Client::builder("app")
            .sender(sender::from_fn(move |_| Err(SendError::new(kind, "no"))))
            .build();
        client.incr("x");
        let stats = client.stats();
        assert_eq!((stats.dropped, stats.failed), (dropped, failed), "{kind:?}");
    }
}

#[test]
fn inactive_client_does_nothing() {
    let client = Client::inactive("nobody");
    assert!(!client.is_active());
    client.incr("x");
    client.info("y");
    assert!(!client.timer("z").is_running());
    client.exception("e", &io::Error::other("x"));
    client.flush();
    assert_eq!(client.stats(), metlog::Stats::default());
}

#[test]
fn client_is_a_cheap_shared_handle_usable_from_many_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Client>();
    let (client, capture) = capture_client();
    std::thread::scope(|s| {
        for t in 0..4 {
            let client = client.clone();
            s.spawn(move || {
                for _ in 0..250 {
                    client.counter("mt").field("thread", t).send();
                }
            });
        }
    });
    assert_eq!(capture.len(), 1000);
    assert_eq!(client.stats().sent, 1000);
}

/// An error that is its own source: `exception` returns, with the chain
/// cut and said so (it once looped for ever, growing memory).
#[derive(Debug)]
struct OwnSource;

impl std::fmt::Display for OwnSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("i am my own cause")
    }
}

impl std::error::Error for OwnSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self)
    }
}

/// A chain deeper than any real one: each error the source of the next.
#[derive(Debug)]
struct Deep(Option<Box<Deep>>);

impl std::fmt::Display for Deep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("level")
    }
}

impl std::error::Error for Deep {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.as_deref().map(|e| e as _)
    }
}

#[test]
fn an_error_chain_that_loops_or_runs_deep_is_cut() {
    let capture = CaptureSender::new();
    let client = Client::builder("app").sender(capture.clone()).build();
    client.exception("failed", &OwnSource);
    let msg = &capture.messages()[0];
    assert_eq!(
        before_backtrace(&msg.payload),
        "failed\nOwnSource: i am my own cause\nCaused by: i am my own cause\n\
         (cause chain cut: it loops or runs deeper)"
    );

    let mut deep = Deep(None);
    for _ in 0..10_000 {
        deep = Deep(Some(Box::new(deep)));
    }
    client.exception("deep", &deep);
    let msg = &capture.messages()[1];
    let causes = msg.fields["causes"].to_json();
    assert_eq!(
        causes.as_array().unwrap().len(),
        65,
        "64 causes and the cut"
    );
    assert!(
        before_backtrace(&msg.payload).ends_with("\n(cause chain cut: it loops or runs deeper)")
    );
    assert_eq!(
        before_backtrace(&msg.payload).lines().count(),
        1 + 1 + 64 + 1,
        "the text, the error, 64 causes and the cut, a line each"
    );
    // Dropping 10,000 nested boxes recurses; keep it off this test's stack.
    std::mem::forget(deep);
}

/// A sender, a filter or a `Display` that sends through its own client on
/// the same thread once recursed until the stack overflowed. The inner
/// message is dropped and counted; the outer one goes on.
#[test]
fn sending_from_inside_a_sender_filter_or_display_is_bounded() {
    support::collect_reports();

    // A sender that reports every message it carries through its client.
    let own: Arc<std::sync::OnceLock<Client>> = Arc::default();
    let inner = own.clone();
    let delivered = Arc::new(AtomicUsize::new(0));
    let seen = delivered.clone();
    let sender = sender::from_fn(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        if let Some(client) = inner.get() {
            client.incr("sender.reentered");
        }
        Ok(())
    });
    let client = Client::builder("app").sender(sender).build();
    own.set(client.clone()).unwrap();
    client.incr("outer");
    assert_eq!(delivered.load(Ordering::SeqCst), 1);
    let stats = client.stats();
    assert_eq!((stats.sent, stats.dropped), (1, 1), "{stats:?}");

    // A filter that counts through the current client.
    let capture = CaptureSender::new();
    let filtered = Client::builder("app")
        .sender(capture.clone())
        .filter(filter::envelope(|_| {
            metlog::incr("filter.reentered");
            true
        }))
        .build();
    metlog::with_client(&filtered, || filtered.info("outer"));
    assert_eq!(capture.len(), 1);
    assert_eq!(filtered.stats().dropped, 1);

    // A `Display` that logs itself.
    struct Loud<'a>(&'a Client);
    impl std::fmt::Display for Loud<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            metlog::info!(self.0, "{}", Loud(self.0));
            f.write_str("loud")
        }
    }
    let capture = CaptureSender::new();
    let logged = Client::builder("app").sender(capture.clone()).build();
    metlog::info!(logged, "{}", Loud(&logged));
    assert_eq!(capture.len(), 1);
    assert_eq!(&*capture.messages()[0].payload, "loud");
}

/// A wrapper whose source is its first field shares that field's address:
/// not a loop (the usual `thiserror` shape), the whole chain is kept.
#[derive(Debug)]
struct Wrap {
    inner: io::Error,
}

impl std::fmt::Display for Wrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot load config")
    }
}

impl std::error::Error for Wrap {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner)
    }
}

#[derive(Debug)]
enum AppError {
    Config(Wrap),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wrap")
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppError::Config(wrap) => Some(wrap),
        }
    }
}

#[test]
fn a_wrapper_sharing_its_fields_address_is_not_a_loop() {
    let capture = CaptureSender::new();
    let client = Client::builder("app").sender(capture.clone()).build();
    let error = AppError::Config(Wrap {
        inner: io::Error::other("disk on fire"),
    });
    client.exception("failed", &error);
    assert_eq!(
        before_backtrace(&capture.messages()[0].payload),
        "failed\nAppError: wrap\nCaused by: cannot load config\nCaused by: disk on fire"
    );
}

/// metlog-py's `timer_send(name, elapsed, logger, severity, fields, rate)`:
/// fractional milliseconds written as Python 2 writes them (the real
/// metlog-py 0.10.0 under Python 2.7: `12.5` → `"12.5"`, `1/3` →
/// `"0.333333333333"`, `12.0` → `"12.0"`, `1e16` → `"1e+16"`), the rate
/// recorded (not applied), fields, logger and severity as given.
#[test]
fn timer_send_with_takes_what_metlog_pys_timer_send_takes() {
    let (client, capture) = capture_client();
    client
        .timer_send_with("db.query", 12.5)
        .field("rate", 0.5)
        .field("shard", 3)
        .logger("db")
        .severity(Severity::Notice)
        .send();
    let m = &capture.messages()[0];
    assert_eq!((m.kind.as_ref(), m.payload.as_ref()), ("timer", "12.5"));
    assert_eq!((m.logger.as_ref(), m.severity), ("db", Severity::Notice));
    assert_eq!(
        m.to_json_value()["fields"],
        json!({"name": "db.query", "rate": 0.5, "shard": 3})
    );
    let payload = |ms: metlog::Millis| {
        let (client, capture) = capture_client();
        client.timer_send_with("t", ms).send();
        capture.messages()[0].payload.to_string()
    };
    assert_eq!(payload((1.0_f64 / 3.0).into()), "0.333333333333");
    assert_eq!(payload(12.0.into()), "12.0");
    assert_eq!(payload(12.into()), "12");
    assert_eq!(payload(1e16.into()), "1e+16");
    assert_eq!(payload(0.0001234.into()), "0.0001234");
    assert_eq!(payload(0.00001234.into()), "1.234e-05");
    // Each checked against Python 2.7's `str(float)`.
    assert_eq!(payload(123456789012.5.into()), "1.23456789012e+11");
    assert_eq!(payload(99999999999.0.into()), "99999999999.0");
    assert_eq!(payload(1e11.into()), "1e+11");
    assert_eq!(payload(12345678901.5.into()), "12345678901.5");
    assert_eq!(payload((0.1 + 0.2).into()), "0.3");
    assert_eq!(payload((-0.0).into()), "-0.0");
    assert_eq!(payload(Duration::from_micros(12_500).into()), "13");
    // A disabled timer sends nothing.
    let capture = CaptureSender::new();
    let client = Client::builder("app")
        .sender(capture.clone())
        .disabled_timers(["t"])
        .build();
    client.timer_send_with("t", 1.5).send();
    assert!(capture.is_empty());
}
