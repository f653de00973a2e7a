//! `client.cef` against the real metlog-cef 0.2 (with cef 0.5): the same
//! inputs give the same message, byte for byte in its payload, as
//! `fixtures/metlog-cef-0.2.jsonl` holds (written by the real package under
//! Python 2.7: `scripts/metlog-py-golden.sh`) — and where the Rust line
//! differs on purpose, exactly as documented.

use crate::support;

use std::time::{Duration, SystemTime};

use metlog::plugin::cef::{Cef, CefContext, CefSyslog};
use metlog::sender::CaptureSender;
use metlog::{Client, Severity};
use serde_json::Value;

/// 2013-01-18T19:58:24.123456Z, the time the Python side pins.
fn fixture_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_micros(1_358_539_104_123_456)
}

fn device(syslog: CefSyslog) -> Cef {
    Cef {
        vendor: "mozilla".into(),
        product: Some("weave".into()),
        version: "3".into(),
        host: Some("cef-host".into()),
        syslog,
    }
}

enum Device {
    Plain,
    Syslog,
    /// A client with logger `myapp` and severity 4.
    Custom,
}

fn client(which: &Device, product: Option<&str>) -> (Client, CaptureSender) {
    let capture = CaptureSender::new();
    let (logger, severity, syslog) = match which {
        Device::Plain => ("", Severity::Informational, CefSyslog::default()),
        Device::Syslog => (
            "",
            Severity::Informational,
            CefSyslog {
                options: Some("PID,NDELAY".into()),
                facility: Some("KERN".into()),
                ident: Some("some_identifier".into()),
                priority: Some("EMERG".into()),
            },
        ),
        Device::Custom => ("myapp", Severity::Warning, CefSyslog::default()),
    };
    let mut cef = device(syslog);
    if let Some(product) = product {
        cef.product = Some(product.into());
    }
    let client = Client::builder(logger)
        .severity(severity)
        .plugin("cef", cef)
        .sender(capture.clone())
        .build();
    (client, capture)
}

/// The environ of metlog-cef's own tests.
fn environ() -> CefContext {
    CefContext::new()
        .source_address("127.0.0.1")
        .host("127.0.0.1")
        .request("GET", "/")
        .user_agent("MySuperBrowser")
        .time(fixture_time())
}

struct Case {
    label: &'static str,
    device: Device,
    name: &'static str,
    severity: u8,
    context: CefContext,
    extensions: Vec<(&'static str, String)>,
    /// metlog-cef's payload → ours, where ours differs on purpose.
    differs: Option<fn(&str) -> String>,
    product: Option<&'static str>,
}

fn case(label: &'static str, name: &'static str, severity: u8, context: CefContext) -> Case {
    Case {
        label,
        device: Device::Plain,
        name,
        severity,
        context,
        extensions: Vec::new(),
        differs: None,
        product: None,
    }
}

impl Case {
    fn ext(mut self, pairs: &[(&'static str, &str)]) -> Case {
        self.extensions = pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        self
    }
}

/// Keep these in step with `CASES` in `scripts/metlog-py-golden.sh`.
fn cases() -> Vec<Case> {
    let bare = CefContext::new().time(fixture_time());
    vec![
        case("pipe in name", "xx|x", 5, environ()),
        case("empty environ", "Empty environ", 5, bare.clone()),
        case(
            "x-forwarded-for",
            "XFF",
            3,
            environ().forwarded_for(" 10.0.0.1 , 10.0.0.2"),
        ),
        case(
            "username and signature",
            "Authentication attempted without username",
            5,
            environ().user("me").signature("AuthFail"),
        ),
        case("extensions in order", "custom", 5, environ().user("me")).ext(&[
            ("custom1", "ok"),
            ("ext1", "ok=ok"),
            ("ext2", "ok\\ok"),
            ("n", "42"),
            ("zz", "a"),
            ("aa", "b"),
        ]),
        case(
            "non-ascii",
            "café",
            5,
            environ()
                .request("GET", "/issue/птт-news")
                .user("jörg")
                .signature("Sïg"),
        )
        .ext(&[("cs2", "1"), ("cs2Label", "Ð")]),
        case("too long", "xx|x", 5, environ().user("me")).ext(&[
            ("custom1", "ok"),
            ("big", &"i".repeat(500)),
            ("bigger", &"u".repeat(550)),
        ]),
        case("severity 10", "sev10", 10, environ()),
        Case {
            device: Device::Syslog,
            ..case("syslog settings", "syslog", 5, environ())
        },
        Case {
            device: Device::Custom,
            ..case("client logger and severity", "defaults", 5, environ())
        },
        // Ours differs on purpose from here on.
        Case {
            // metlog-cef puts a `\` before a line break in a header field,
            // which still ends the syslog record there; ours writes a space.
            differs: Some(|theirs| theirs.replace("\\\n", " ").replace("\\\r", " ")),
            ..case(
                "line breaks in header",
                "xx\nx|xx\rx\\y",
                5,
                environ().signature("sig|na\\ture"),
            )
        },
        Case {
            // metlog-cef leaves a line break in an extension value as it is;
            // ours escapes it as the CEF specification says.
            differs: Some(|theirs| theirs.replace('\n', "\\n")),
            ..case(
                "line break in extension",
                "esc",
                5,
                environ().user_agent("=|\\").request("G=T", "/a=b|c\\d\ne"),
            )
            .ext(&[("msg", "line1\nline2")])
        },
        Case {
            // metlog-cef leaves a `|` in the product unescaped: a ninth field.
            differs: Some(|theirs| theirs.replace("|P|roduct|", "|P\\|roduct|")),
            product: Some("P|roduct"),
            ..case("pipe in product", "cfg", 0, environ())
        },
        Case {
            // metlog-cef writes keys with illegal characters as they are
            // (a CEF reader then sees `d=1` and `ace=v`); ours keeps their
            // letters, digits, `_`, `-` and `.` (metlog-cef's own rule), which
            // also changes their order.
            differs: Some(|theirs| theirs.replace(" ba|d=1 sp ace=v", " bad=1 space=v")),
            ..case("illegal keys", "xxx", 5, environ()).ext(&[("ba|d", "1"), ("sp ace", "v")])
        },
    ]
}

fn fixtures() -> Vec<(String, Value)> {
    include_str!("../fixtures/metlog-cef-0.2.jsonl")
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).unwrap();
            let message = serde_json::from_str(entry["message"].as_str().unwrap()).unwrap();
            (entry["case"].as_str().unwrap().to_owned(), message)
        })
        .collect()
}

/// One case's run: its label, how ours differs on purpose, ours, theirs.
type Run = (&'static str, Option<fn(&str) -> String>, Value, Value);

/// Runs every case; ours's pid and host are set to the fixture's (the
/// Python side pins them).
fn run_cases() -> Vec<Run> {
    let fixtures = fixtures();
    let cases = cases();
    assert_eq!(
        cases.len(),
        fixtures.len(),
        "cases in step with the fixture"
    );
    let mut runs = Vec::new();
    for (case, (label, theirs)) in cases.into_iter().zip(fixtures) {
        assert_eq!(case.label, label, "cases in step with the fixture");
        let (client, capture) = client(&case.device, case.product);
        let extensions: Vec<(&str, &str)> = case
            .extensions
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let line = client
            .cef(case.name, case.severity, &case.context, extensions)
            .unwrap();
        let mut ours = capture.json().pop().unwrap();
        assert_eq!(
            ours["payload"], line,
            "{label}: the line returned is the one sent"
        );
        ours["metlog_pid"] = theirs["metlog_pid"].clone();
        ours["metlog_hostname"] = theirs["metlog_hostname"].clone();
        runs.push((case.label, case.differs, ours, theirs));
    }
    runs
}

fn in_utc_child() -> bool {
    std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("utc")
}

/// The comparison runs in a process of its own with `TZ=UTC0`: the line's
/// date is local time, and the fixture's is 19:58:24.
#[test]
fn cef_messages_are_metlog_cefs_byte_for_byte() {
    if !in_utc_child() {
        let (stdout, _) = support::run_child(
            &support::test_name!(cef_messages_are_metlog_cefs_byte_for_byte),
            "utc",
            &[("TZ", "UTC0")],
        );
        assert!(stdout.contains("compared 14 cases"), "{stdout}");
        return;
    }
    support::collect_reports();
    let mut compared = 0;
    for (label, differs, mut ours, mut theirs) in run_cases() {
        let their_payload = theirs["payload"].as_str().unwrap().to_owned();
        let our_payload = ours["payload"].as_str().unwrap().to_owned();
        match differs {
            None => assert_eq!(our_payload, their_payload, "{label}"),
            Some(documented) => {
                assert_ne!(our_payload, their_payload, "{label}: differs on purpose");
                assert_eq!(our_payload, documented(&their_payload), "{label}");
            }
        }
        // The rest of the message (fields.cef_meta, type, logger, severity,
        // timestamp, …) equal, key order aside (Python 2 writes hash order).
        ours["payload"] = Value::Null;
        theirs["payload"] = Value::Null;
        assert_eq!(ours, theirs, "{label}");
        compared += 1;
    }
    // The line limit's report, as metlog-cef's warning.
    let reports = support::reports();
    assert!(
        reports.iter().any(|r| r.contains("[\"bigger\"] left out")),
        "{reports:?}"
    );
    println!("compared {compared} cases");
}

/// The date is the event's local time: three hours east of UTC, 22:58:24;
/// a zone changed while the program runs is followed (as Python's
/// `strftime`); a second before 1970 is 23:59:59 on Dec 31.
#[test]
fn the_date_is_local_time() {
    if std::env::var("METLOG_TEST_CHILD").as_deref() != Ok("east") {
        let (stdout, _) = support::run_child(
            &support::test_name!(the_date_is_local_time),
            "east",
            &[("TZ", "XYZ-3")],
        );
        assert!(stdout.contains("east: Jan 18 22:58:24 "), "{stdout}");
        assert!(stdout.contains("utc: Jan 18 19:58:24 "), "{stdout}");
        assert!(stdout.contains("before 1970: Dec 31 23:59:59 "), "{stdout}");
        return;
    }
    let (client, _capture) = client(&Device::Plain, None);
    let line = client.cef("n", 5, &environ(), []).unwrap();
    println!("east: {line}");
    // SAFETY: this child process runs this one test on one thread.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("TZ", "UTC0");
    }
    let line = client.cef("n", 5, &environ(), []).unwrap();
    println!("utc: {line}");
    let before = CefContext::new().time(SystemTime::UNIX_EPOCH - Duration::from_secs(1));
    println!("before 1970: {}", client.cef("n", 5, &before, []).unwrap());
}

/// `X-Forwarded-For` is trimmed as Python 2 trims it: ASCII whitespace
/// only (a no-break space is part of the address metlog-cef writes).
#[test]
fn forwarded_for_is_trimmed_as_metlog_cef_trims_it() {
    let (client, _capture) = client(&Device::Plain, None);
    for (header, src) in [
        (" \t10.0.0.1\x0b , 10.0.0.2", "src=10.0.0.1 "),
        ("\u{a0}10.0.0.1\u{a0}, x", "src=\u{a0}10.0.0.1\u{a0} "),
        ("", "src= "),
    ] {
        let context = environ().forwarded_for(header);
        let line = client.cef("n", 5, &context, []).unwrap();
        assert!(line.contains(src), "{header:?}: {line}");
    }
}

/// A line from metlog-cef read back by `Message::from_json` and sent again
/// through a Rust client's JSON encoder keeps its payload and `cef_meta`.
#[test]
fn metlog_cef_messages_read_back_whole() {
    for (label, theirs) in fixtures() {
        let text = serde_json::to_string(&theirs).unwrap();
        let message = metlog::Message::from_json(&text).unwrap();
        assert_eq!(message.to_json_value(), theirs, "{label}");
    }
}

/// metlog-cef's option checks (it refuses these when the client is
/// configured), and the option the router's output drops every message for.
#[test]
fn syslog_settings_are_checked_as_metlog_cef_checks_them() {
    let load = |options: &str| {
        metlog::config::from_ini_str(
            &format!(
                "[metlog]\nsender_class = capture\n[metlog_plugin_cef]\n\
             provider = metlog_cef.cef_plugin:config_plugin\n{options}\n"
            ),
            "metlog",
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    load("syslog_options = PID,CONS,NDELAY,NOWAIT\nsyslog_facility = LOCAL7\nsyslog_priority = DEBUG")
        .unwrap();
    for (options, says) in [
        ("syslog_options = PIDBAD", "unknown option \"PIDBAD\""),
        ("syslog_options = LOG_PERROR", "drops every message"),
        ("syslog_facility = local4", "in capitals"),
        ("syslog_priority = LOUD", "unknown priority \"LOUD\""),
    ] {
        let err = load(options).unwrap_err();
        assert!(err.contains(says), "{options}: {err}");
    }
}

/// Empty syslog settings are unset, as metlog-cef takes them; two sections
/// that bind `cef` are refused unless one overrides, as metlog-py refuses
/// them ("The name [cef] is already in use").
#[test]
fn empty_settings_are_unset_and_two_cef_plugins_need_an_override() {
    let client = metlog::config::from_ini_str(
        "[metlog]\nsender_class = capture\n[metlog_plugin_cef]\n\
         provider = metlog_cef.cef_plugin:config_plugin\nsyslog_facility =\nsyslog_priority =\n",
        "metlog",
    )
    .unwrap();
    assert_eq!(
        client.plugin::<Cef>("cef").unwrap().syslog,
        CefSyslog::default()
    );
    let two = |override_: &str| {
        metlog::config::from_ini_str(
            &format!(
                "[metlog]\nsender_class = capture\n\
                 [metlog_plugin_a]\nprovider = metlog_cef.cef_plugin:config_plugin\n\
                 syslog_facility = LOCAL1\n\
                 [metlog_plugin_b]\nprovider = metlog_cef.cef_plugin:config_plugin\n\
                 syslog_facility = LOCAL2\n{override_}"
            ),
            "metlog",
        )
    };
    let err = two("").unwrap_err().to_string();
    assert!(
        err.contains("\"cef\" is already bound, by the plugin configured as \"a\""),
        "{err}"
    );
    let client = two("override = true\n").unwrap();
    assert_eq!(
        client
            .plugin::<Cef>("cef")
            .unwrap()
            .syslog
            .facility
            .as_deref(),
        Some("LOCAL2")
    );
}
