//! `sentry` messages (metlog-raven 0.5): every kind the crate sends is read
//! back and checked against what Sentry 5 takes (`check_event`; with raven
//! 3.1.16's own `Client.decode` under Python 2.7 in `raven_decodes_them`),
//! and compared with what the real metlog-raven sends
//! (`fixtures/metlog-raven-0.5.jsonl`, from `scripts/metlog-raven-golden.sh`).

use crate::support;

use std::fmt;
use std::io::Read as _;

use metlog::plugin::raven::Raven;
use metlog::sender::CaptureSender;
use metlog::{Client, Fields, Message, Severity};
use serde_json::Value;

const DSN: &str = "http://public:secret@sentry.example.com:9000/2";

/// Python's `ValueError('bad value')`, as the fixtures raise it.
#[derive(Debug)]
struct ValueError(Option<Box<ValueError>>);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "outer"
        } else {
            "bad value"
        })
    }
}

impl std::error::Error for ValueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.as_deref().map(|e| e as _)
    }
}

fn client(raven: Raven) -> (Client, CaptureSender) {
    let capture = CaptureSender::new();
    let client = Client::builder("myapp")
        .plugin("raven", raven)
        .sender(capture.clone())
        .build();
    (client, capture)
}

fn raven() -> Raven {
    Raven::new(DSN).unwrap()
}

/// The event in a `sentry` message's payload, after checking the payload's
/// form: standard base64 with padding, one line, a zlib stream.
fn decode(message: &Message) -> Value {
    use base64::Engine as _;
    let payload = &*message.payload;
    assert!(!payload.contains(['\n', '\r', '-', '_']), "{payload}");
    let zlib = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .expect("standard base64 with padding");
    assert_eq!(&zlib[..2], [0x78, 0x9c], "a zlib stream");
    let mut json = String::new();
    flate2::read::ZlibDecoder::new(&zlib[..])
        .read_to_string(&mut json)
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

/// The envelope metlog-raven sends and the event Sentry 5 takes (RAVEN.md).
fn check_event(label: &str, message: &Message) -> Value {
    assert_eq!(message.kind, "sentry", "{label}");
    let fields = message.to_json_value()["fields"].clone();
    assert!(fields["epoch_timestamp"].is_f64(), "{label}: {fields}");
    assert!(fields["msg"].is_string(), "{label}: {fields}");
    assert_eq!(fields["dsn"], DSN, "{label}");
    let event = decode(message);
    let object = event.as_object().unwrap();
    assert_eq!(event["project"], "2", "{label}");
    let id = event["event_id"].as_str().unwrap();
    assert!(
        id.len() == 32 && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{id}"
    );
    assert_eq!(event["level"], 40, "{label}");
    let exception = &event["sentry.interfaces.Exception"];
    let (kind, value) = (
        exception["type"].as_str().unwrap(),
        exception["value"].as_str().unwrap(),
    );
    assert!(exception["module"].is_string(), "{label}");
    assert_eq!(event["message"], format!("{kind}: {value}"), "{label}");
    let stamp = event["timestamp"].as_str().unwrap();
    assert!(
        stamp.len() == 20 && stamp.ends_with('Z') && &stamp[10..11] == "T",
        "{stamp}"
    );
    let culprit = event["culprit"].as_str().unwrap();
    assert!(culprit.contains(" in "), "{label}: {culprit}");
    let frames = event["sentry.interfaces.Stacktrace"]["frames"]
        .as_array()
        .unwrap();
    assert!(!frames.is_empty(), "{label}");
    for frame in frames {
        assert!(
            frame["filename"].is_string() || frame["module"].is_string(),
            "{frame}"
        );
        assert!(
            frame["function"].is_string() && frame["lineno"].is_u64(),
            "{frame}"
        );
    }
    assert!(event["extra"].is_object(), "{label}");
    for key in object.keys() {
        let known = [
            "project",
            "event_id",
            "message",
            "level",
            "culprit",
            "timestamp",
            "extra",
        ];
        assert!(
            known.contains(&key.as_str()) || key.starts_with("sentry.interfaces."),
            "{label}: top-level key {key} (Sentry 5 refuses it)"
        );
    }
    event
}

/// The innermost frame's function.
fn raising_function(event: &Value) -> String {
    let frames = event["sentry.interfaces.Stacktrace"]["frames"]
        .as_array()
        .unwrap();
    frames.last().unwrap()["function"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn an_error_with_its_chain() {
    let (client, capture) = client(raven());
    let err = ValueError(Some(Box::new(ValueError(None))));
    client.raven("loading failed", &err);
    let msg = &capture.messages()[0];
    let event = check_event("chain", msg);
    assert_eq!(msg.severity, Severity::Error);
    assert_eq!(&*msg.logger, "myapp");
    assert_eq!(event["message"], "ValueError: outer: bad value");
    assert_eq!(
        event["sentry.interfaces.Exception"]["module"],
        "integration::raven"
    );
    assert_eq!(event["extra"]["msg"], "loading failed");
    assert_eq!(
        event["culprit"],
        "integration::raven in an_error_with_its_chain"
    );
    assert_eq!(raising_function(&event), "an_error_with_its_chain");
}

#[test]
fn boxed_and_anyhow_errors() {
    let (client, capture) = client(raven());
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(ValueError(None));
    client.raven("boxed", &*boxed);
    let any = anyhow::Error::new(ValueError(None)).context("while parsing");
    client.raven("anyhow", &*any);
    let io: Box<dyn std::error::Error> = "plain text".into();
    client.raven("text", &*io);
    let messages = capture.messages();
    let events: Vec<Value> = messages.iter().map(|m| check_event("boxed", m)).collect();
    assert_eq!(events[0]["message"], "ValueError: bad value");
    assert_eq!(events[0]["sentry.interfaces.Exception"]["module"], "dyn");
    assert_eq!(events[1]["extra"]["msg"], "anyhow");
    assert!(events[1]["message"]
        .as_str()
        .unwrap()
        .ends_with(": while parsing: bad value"));
    assert_eq!(events[2]["message"], "Error: plain text");
}

#[test]
fn without_a_raven_plugin_nothing_is_sent_and_it_is_said_once() {
    support::in_own_process(
        &support::test_name!(without_a_raven_plugin_nothing_is_sent_and_it_is_said_once),
        &[],
        || {
            support::collect_reports();
            let capture = CaptureSender::new();
            let client = Client::builder("myapp").sender(capture.clone()).build();
            client.raven("a", &ValueError(None));
            client.raven("b", &ValueError(None));
            assert!(capture.is_empty());
            let reports = support::reports();
            assert_eq!(reports.len(), 1, "{reports:?}");
            assert!(reports[0].contains("no `raven` plugin"), "{reports:?}");
        },
    );
}

#[test]
fn call_fields_go_to_fields_and_extra_and_options_apply() {
    let raven = raven().logger("raven-logger").severity(Severity::Warning);
    let (client, capture) = client(raven);
    let mut fields = Fields::new();
    fields.insert("extra1", "x");
    client.raven_fields("with fields", &ValueError(None), fields);
    let msg = &capture.messages()[0];
    let event = check_event("fields", msg);
    assert_eq!(&*msg.logger, "raven-logger");
    assert_eq!(msg.severity, Severity::Warning);
    assert_eq!(msg.to_json_value()["fields"]["extra1"], "x");
    assert_eq!(event["extra"]["extra1"], "x");
    assert_eq!(event["extra"]["logger"], "raven-logger");
    assert_eq!(event["extra"]["severity"], 4);
}

#[test]
fn bad_dsns_are_refused_with_the_reason() {
    for (dsn, why) in [
        ("http://sentry.example.com/2", "PUBLIC:SECRET@"),
        ("ftp://a:b@h/2", "scheme"),
        ("http://a:b@h:99999/2", "port"),
        ("http://a:b@h/", "project"),
    ] {
        let err = Raven::new(dsn).unwrap_err();
        assert!(err.contains(why) && err.contains(dsn), "{dsn}: {err}");
    }
    assert_eq!(
        Raven::new("udp://a:b@h:9001/sentry/7").unwrap().project(),
        "7"
    );
}

fn from_ini(section: &str) -> Result<Client, String> {
    let ini =
        format!("[metlog]\nlogger = myapp\nsender_class = null\n[metlog_plugin_raven]\n{section}");
    metlog::config::from_ini_str(&ini, "metlog").map_err(|e| e.to_string())
}

#[test]
fn configuration_as_metlog_raven_takes_it() {
    for provider in ["metlog_raven.raven_plugin:config_plugin", "raven"] {
        let client = from_ini(&format!(
            "provider = {provider}\ndsn = {DSN}\nlogger = l\nseverity = 4\nsentry_project_id = 9\n"
        ))
        .unwrap();
        let raven = client.plugin::<Raven>("raven").unwrap();
        assert_eq!(raven.dsn(), DSN);
        assert_eq!(raven.project(), "2");
    }
    let missing = from_ini("provider = raven\nsentry_project_id = 2\n").unwrap_err();
    assert!(missing.contains("`dsn` is required"), "{missing}");
    let unknown = from_ini(&format!("provider = raven\ndsn = {DSN}\nsite = x\n")).unwrap_err();
    assert!(unknown.contains("unknown option `site`"), "{unknown}");
    let bad = from_ini("provider = raven\ndsn = http://h/2\n").unwrap_err();
    assert!(bad.contains("invalid Sentry DSN"), "{bad}");
}

#[metlog::capture_stack(client = "raven-capture")]
fn panics(text: &str) -> usize {
    if text.is_empty() {
        panic!("empty text");
    }
    text.len()
}

#[metlog::capture_stack(err, client = "raven-capture")]
fn parse(text: &str) -> Result<u8, std::num::ParseIntError> {
    let n: u8 = text.parse()?;
    Ok(n)
}

#[metlog::capture_stack(err, client = "raven-capture")]
fn fail_anyhow() -> anyhow::Result<()> {
    Err(anyhow::anyhow!("no such user"))
}

#[metlog::capture_stack(client = "raven-capture")]
fn outer() {
    let _ = panics("");
}

#[metlog::capture_stack(client = "raven-capture")]
async fn panics_async(text: &str) -> usize {
    panics_plain(text)
}

fn panics_plain(text: &str) -> usize {
    assert!(!text.is_empty(), "empty async text");
    text.len()
}

/// Every kind of `sentry` message the crate sends, labelled: an error with
/// a chain, boxed and anyhow errors, panics through the attribute (sync,
/// nested, async), `Err`s through `capture_stack(err)`, and the panics
/// plugin's. Installs panic hooks: call it in a process of its own.
fn every_kind() -> Vec<(String, Message)> {
    let (client, capture) = client(raven());
    metlog::set_client("raven-capture", client.clone());
    client.raven("chain", &ValueError(Some(Box::new(ValueError(None)))));
    let boxed: Box<dyn std::error::Error> = Box::new(ValueError(None));
    client.raven("boxed", &*boxed);
    client.raven("anyhow", &*anyhow::anyhow!("no such user"));
    assert_eq!(panics("abc"), 3);
    assert!(std::panic::catch_unwind(|| panics("")).is_err());
    assert!(std::panic::catch_unwind(outer).is_err());
    let future = std::panic::AssertUnwindSafe(panics_async(""));
    assert!(std::panic::catch_unwind(move || support::block_on(future.0)).is_err());
    assert_eq!(parse("7"), Ok(7));
    assert!(parse("x").is_err());
    assert!(fail_anyhow().is_err());
    metlog::plugin::panics::install_sentry(Some(client), std::time::Duration::from_secs(5));
    assert!(std::thread::spawn(|| panic!("plugin panic"))
        .join()
        .is_err());
    let labels = [
        "chain",
        "boxed",
        "anyhow",
        "panic",
        "nested panic",
        "async panic",
        "err",
        "anyhow err",
        "panics plugin",
    ];
    let messages = capture.messages();
    assert_eq!(messages.len(), labels.len(), "{messages:#?}");
    labels
        .iter()
        .map(|l| (*l).to_owned())
        .zip(messages)
        .collect()
}

#[test]
fn every_kind_reads_back_as_sentry_5_takes_it() {
    support::in_own_process(
        &support::test_name!(every_kind_reads_back_as_sentry_5_takes_it),
        &[],
        || {
            let kinds = every_kind();
            if let Ok(dump) = std::env::var("METLOG_RAVEN_DUMP") {
                // For `raven_decodes_them`: label and message, a line each.
                let lines: Vec<String> = kinds
                    .iter()
                    .map(|(label, m)| serde_json::json!([label, m.to_json()]).to_string())
                    .collect();
                std::fs::write(dump, lines.join("\n")).unwrap();
            }
            let events: Vec<Value> = kinds.iter().map(|(l, m)| check_event(l, m)).collect();
            let message = |i: usize| events[i]["message"].as_str().unwrap().to_owned();
            assert_eq!(message(3), "panic: empty text");
            assert_eq!(raising_function(&events[3]), "panics");
            assert_eq!(events[3]["culprit"], "integration::raven in panics");
            // Nested: reported once, by the innermost annotated function.
            assert_eq!(message(4), "panic: empty text");
            assert_eq!(message(5), "panic: empty async text");
            assert_eq!(raising_function(&events[5]), "panics_plain");
            // The attribute's own frames are folded away: the stacks read as
            // without it.
            let functions = |i: usize| -> Vec<String> {
                let frames = events[i]["sentry.interfaces.Stacktrace"]["frames"].as_array();
                let frames = frames.unwrap().iter().rev();
                frames
                    .map(|f| format!("{}::{}", f["module"].as_str().unwrap(), f["function"]))
                    .collect()
            };
            assert_eq!(
                functions(4)[..3],
                [
                    "integration::raven::\"panics\"",
                    "integration::raven::\"outer\"",
                    "core::ops::function::FnOnce::\"call_once\""
                ],
                "{:#?}",
                functions(4)
            );
            assert_eq!(
                functions(5)[..3],
                [
                    "integration::raven::\"panics_plain\"",
                    "integration::raven::\"panics_async::{{closure}}\"",
                    "integration::support::\"block_on\""
                ],
                "{:#?}",
                functions(5)
            );
            for i in 0..events.len() {
                assert!(
                    !functions(i).iter().any(|f| f.starts_with("metlog::")),
                    "{:#?}",
                    functions(i)
                );
            }
            assert_eq!(message(6), "ParseIntError: invalid digit found in string");
            assert_eq!(events[6]["culprit"], "integration::raven in parse");
            assert_eq!(message(7), "Error: no such user");
            assert_eq!(message(8), "panic: plugin panic");
            assert_eq!(events[6]["extra"]["msg"], "");
            let _ = std::panic::take_hook();
        },
    );
}

/// The Python side of `raven_decodes_them`: raven 3.1.16's `Client.decode`
/// on each payload, and Sentry 5's rules on the event.
const PYTHON_CHECK: &str = r#"
import base64, datetime, json, re, sys
import raven, metlog_raven
from raven import Client
assert raven.VERSION == '3.1.16', raven.VERSION
count = 0
for line in open(sys.argv[1]):
    label, message = json.loads(line)
    msg = json.loads(message)
    assert msg['type'] == 'sentry', label
    assert msg['severity'] == 3, label
    assert isinstance(msg['fields']['epoch_timestamp'], float), label
    assert isinstance(msg['fields']['msg'], unicode), label
    assert re.match(r'^[A-Za-z0-9+/]*={0,2}$', msg['payload']) and len(msg['payload']) % 4 == 0, label
    assert base64.b64decode(msg['payload'])[:2] == '\x78\x9c', label
    ev = Client().decode(msg['payload'])
    assert ev['project'] == msg['fields']['dsn'].rsplit('/', 1)[1], label
    assert re.match(r'^[0-9a-f]{32}$', ev['event_id']), label
    assert isinstance(ev['message'], unicode) and ev['level'] == 40, label
    assert isinstance(ev['culprit'], unicode), label
    datetime.datetime.strptime(ev['timestamp'], '%Y-%m-%dT%H:%M:%SZ')
    exc = ev['sentry.interfaces.Exception']
    assert isinstance(exc['type'], unicode) and isinstance(exc['value'], unicode), label
    assert ev['message'] == u'%s: %s' % (exc['type'], exc['value']), label
    frames = ev['sentry.interfaces.Stacktrace']['frames']
    assert frames, label
    for f in frames:
        assert f.get('filename') or f.get('module'), (label, f)
        assert isinstance(f['function'], unicode) and isinstance(f['lineno'], int), (label, f)
    assert isinstance(ev['extra'], dict), label
    assert 'logger' not in ev, label
    for key in ev:
        assert key in ('project', 'event_id', 'message', 'level', 'culprit', 'timestamp',
                       'extra') or key.startswith('sentry.interfaces.'), (label, key)
    count += 1
print('checked %d' % count)
"#;

#[test]
#[ignore = "needs Python 2.7 with raven 3.1.16 and metlog-raven 0.5: run scripts/test.sh"]
fn raven_decodes_them() {
    {
        let python = std::env::var("METLOG_PYTHON2")
            .expect("METLOG_PYTHON2: a Python 2.7 (scripts/test.sh sets it)");
        let path = std::env::var("METLOG_RAVEN_PYTHONPATH")
            .expect("METLOG_RAVEN_PYTHONPATH: raven 3.1.16 and metlog-raven 0.5 (scripts/test.sh)");
        // The messages, from a child that runs `every_kind` (panic hooks).
        let file = std::env::temp_dir().join(format!("metlog-raven-{}.jsonl", std::process::id()));
        let dump = file.to_str().unwrap();
        support::in_own_process(
            &support::test_name!(every_kind_reads_back_as_sentry_5_takes_it),
            &[("METLOG_RAVEN_DUMP", dump)],
            || unreachable!("run by the parent"),
        );
        let written = std::fs::read_to_string(&file).unwrap();
        let out = std::process::Command::new(python)
            .args(["-c", PYTHON_CHECK])
            .arg(&file)
            .env("PYTHONPATH", path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&file);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}{stderr}");
        assert_eq!(
            stdout.trim(),
            format!("checked {}", written.lines().count()),
            "{stderr}"
        );
        assert_eq!(written.lines().count(), 9);
    }
}

#[metlog::capture_stack(err, client = "raven-golden")]
fn decorated() -> Result<(), ValueError> {
    Err(ValueError(None))
}

/// The Rust message of each fixture case (keep in step with
/// `scripts/metlog-raven-golden.sh`), and the function that raised.
fn golden_case(label: &str) -> (Message, &'static str) {
    let options = label == "options";
    let raven = if options {
        raven().logger("raven-logger").severity(Severity::Warning)
    } else {
        raven()
    };
    let (client, capture) = client(raven);
    let err = ValueError(None);
    match label {
        "error" => client.raven("oops", &err),
        "options" => client.raven("with options", &err),
        "fields" => {
            let mut fields = Fields::new();
            fields.insert("extra1", "x");
            client.raven_fields("oops", &err, fields);
        }
        _ => {
            metlog::set_client("raven-golden", client.clone());
            assert!(decorated().is_err());
            metlog::remove_client("raven-golden");
        }
    }
    let raising = if label == "capture_stack" {
        "decorated"
    } else {
        "golden_case"
    };
    (capture.messages().remove(0), raising)
}

/// Against the real metlog-raven 0.5: the envelope's keys and values (time,
/// host and pid aside), and the event's, where they are not the event id,
/// time, or frames (Rust's, not Python's). Left out on purpose: the
/// exception's `module` (Python's `exceptions`, a Rust path here) and
/// raven's optional `checksum`, `platform`, `server_name`, `tags`,
/// `time_spent`, `modules` and `extra["sys.argv"]`; added: the call's
/// fields in `extra` (metlog-raven has them in `fields` only).
#[test]
fn the_same_as_metlog_raven_sends() {
    // `capture_stack` installs a panic hook: in a process of its own.
    support::in_own_process(
        &support::test_name!(the_same_as_metlog_raven_sends),
        &[],
        compare_with_fixtures,
    );
}

fn compare_with_fixtures() {
    let fixture = std::fs::read_to_string(
        support::workspace_root().join("tests/fixtures/metlog-raven-0.5.jsonl"),
    )
    .unwrap();
    let mut cases = 0;
    for line in fixture.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let label = case["case"].as_str().unwrap();
        let mut python: Value = serde_json::from_str(case["message"].as_str().unwrap()).unwrap();
        let (message, raising) = golden_case(label);
        let mut rust = message.to_json_value();
        let rust_event = check_event(label, &message);
        for json in [&mut python, &mut rust] {
            let object = json.as_object_mut().unwrap();
            for key in ["timestamp", "metlog_hostname", "metlog_pid", "payload"] {
                assert!(object.remove(key).is_some(), "{label}: {key}");
            }
            let epoch = object["fields"]
                .as_object_mut()
                .unwrap()
                .remove("epoch_timestamp");
            assert!(epoch.unwrap().is_f64(), "{label}");
        }
        assert_eq!(rust, python, "{label}: the envelope");
        let event = &case["event"];
        for key in ["project", "level", "message"] {
            assert_eq!(rust_event[key], event[key], "{label}: {key}");
        }
        for key in ["type", "value"] {
            let path = "sentry.interfaces.Exception";
            assert_eq!(rust_event[path][key], event[path][key], "{label}: {key}");
        }
        let mut extra = event["extra"].as_object().unwrap().clone();
        extra.remove("sys.argv");
        let mut rust_extra = rust_event["extra"].as_object().unwrap().clone();
        rust_extra.remove("extra1");
        assert_eq!(rust_extra, extra, "{label}: extra");
        for key in rust_event.as_object().unwrap().keys() {
            assert!(
                event.get(key).is_some(),
                "{label}: {key} is not metlog-raven's"
            );
        }
        let frame_keys = |e: &Value| {
            let frames = e["sentry.interfaces.Stacktrace"]["frames"]
                .as_array()
                .unwrap();
            let mut keys: Vec<String> = frames
                .last()
                .unwrap()
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            keys.retain(|k| k != "abs_path");
            keys
        };
        assert_eq!(frame_keys(&rust_event), frame_keys(event), "{label}");
        let culprit = rust_event["culprit"].as_str().unwrap();
        let python_culprit = event["culprit"].as_str().unwrap();
        // Python's raising frame is where the exception was raised; a Rust
        // error has no stack of its own: the frame reporting it is.
        assert_eq!(
            culprit,
            format!("integration::raven in {raising}"),
            "{label}"
        );
        assert!(python_culprit.starts_with("__main__ in "), "{label}");
        cases += 1;
    }
    assert_eq!(cases, 4);
}

/// An error whose `Debug` panics.
struct PanicDebug;

impl fmt::Debug for PanicDebug {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("debug boom")
    }
}

impl fmt::Display for PanicDebug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pd")
    }
}

impl std::error::Error for PanicDebug {}

/// An error whose `Debug` goes on writing after its writer refused.
struct Chatty;

impl fmt::Debug for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for _ in 0..100_000 {
            let _ = f.write_str("Aaaaaaaaaa");
        }
        Ok(())
    }
}

impl fmt::Display for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("chatty")
    }
}

impl std::error::Error for Chatty {}

/// What an outside attack found (each failed before its fix): a trait
/// object's panicking `Debug` reached the caller; a `Debug` past its limit
/// made a megabyte type name; metlog's own probe was named the culprit of
/// an `anyhow` error; after a panic hook that does not chain, a thread's
/// panics went unreported for good; with the panics plugin in Sentry mode
/// a panic was reported twice.
#[test]
fn what_the_attack_found_stays_fixed() {
    support::in_own_process(
        &support::test_name!(what_the_attack_found_stays_fixed),
        &[],
        || {
            let (client, capture) = client(raven());
            metlog::set_client("raven-capture", client.clone());
            let panicking: Box<dyn std::error::Error + Send + Sync> = Box::new(PanicDebug);
            let call = std::panic::AssertUnwindSafe(|| client.raven("x", &*panicking));
            assert!(
                std::panic::catch_unwind(call).is_ok(),
                "not the caller's panic"
            );
            let chatty: Box<dyn std::error::Error + Send + Sync> = Box::new(Chatty);
            client.raven("y", &*chatty);
            assert!(fail_anyhow().is_err());
            // Reported, then a hook that does not chain: later panics are
            // still reported (with their message).
            assert!(std::panic::catch_unwind(|| panics("")).is_err());
            std::panic::set_hook(Box::new(|_| {}));
            assert!(std::panic::catch_unwind(|| panics("")).is_err());
            assert!(std::panic::catch_unwind(|| panics("")).is_err());
            // The panics plugin in Sentry mode reports it; the attribute
            // leaves it to the plugin: once.
            metlog::plugin::panics::install_sentry(
                Some(client.clone()),
                std::time::Duration::from_secs(5),
            );
            assert!(std::panic::catch_unwind(|| panics("")).is_err());
            let messages = capture.messages();
            assert_eq!(messages.len(), 7, "{messages:#?}");
            let events: Vec<Value> = messages.iter().map(decode).collect();
            let kind = |i: usize| events[i]["sentry.interfaces.Exception"]["type"].clone();
            assert_eq!(kind(0), "Error", "a Debug that panics names no type");
            assert!(kind(1).as_str().unwrap().len() <= 128, "{}", kind(1));
            let culprit = events[2]["culprit"].as_str().unwrap();
            assert!(!culprit.contains("metlog::"), "{culprit}");
            for event in &events[3..7] {
                assert_eq!(
                    event["sentry.interfaces.Exception"]["type"], "panic",
                    "{event:?}"
                );
            }
        },
    );
}

/// Returns a borrow of an argument it owns (the attribute's closure was
/// `FnMut`, which cannot).
#[metlog::capture_stack(err, client = "raven-capture")]
fn first(v: &mut [u8]) -> Result<&mut u8, std::io::Error> {
    v.get_mut(0).ok_or_else(|| std::io::Error::other("empty"))
}

/// Returns `impl Trait` inside the `Result` (the attribute wrote it as a
/// variable's type, which Rust refuses).
#[metlog::capture_stack(err, client = "raven-capture")]
fn digits(text: &str) -> Result<impl Iterator<Item = u8> + '_, std::io::Error> {
    if text.is_empty() {
        return Err(std::io::Error::other("no digits"));
    }
    Ok(text.bytes().map(|b| b - b'0'))
}

/// Always panics (the attribute drew `unreachable_code` in the user's
/// crate, an error under `deny(warnings)`).
#[deny(warnings)]
#[metlog::capture_stack(err, client = "raven-capture")]
fn always_panics() -> Result<(), std::io::Error> {
    panic!("always")
}

/// `capture_stack(err)` takes what the function could return without it:
/// borrows of its arguments and `impl Trait` (attack F6); each `Err` is
/// reported once.
#[test]
fn capture_stack_err_takes_borrowed_and_impl_trait_returns() {
    support::in_own_process(
        &support::test_name!(capture_stack_err_takes_borrowed_and_impl_trait_returns),
        &[],
        || {
            let (client, capture) = client(raven());
            metlog::set_client("raven-capture", client);
            let mut v = vec![7];
            *first(&mut v).unwrap() += 1;
            assert_eq!(v, [8]);
            assert!(first(&mut []).is_err());
            assert_eq!(digits("12").unwrap().collect::<Vec<_>>(), [1, 2]);
            assert!(digits("").is_err());
            assert!(std::panic::catch_unwind(always_panics).is_err());
            let kinds: Vec<Value> = capture
                .messages()
                .iter()
                .map(|m| decode(m)["sentry.interfaces.Exception"]["value"].clone())
                .collect();
            assert_eq!(kinds, ["empty", "no digits", "always"]);
        },
    );
}

#[metlog::capture_stack(client = "nobody-set-this")]
fn panics_for_nobody() {
    panic!("unheard")
}

/// A `capture_stack` naming a client nobody set says so, once, rather than
/// lose the panic unsaid (attack F9).
#[test]
fn capture_stack_to_a_missing_client_says_so_once() {
    support::in_own_process(
        &support::test_name!(capture_stack_to_a_missing_client_says_so_once),
        &[],
        || {
            support::collect_reports();
            assert!(std::panic::catch_unwind(panics_for_nobody).is_err());
            assert!(std::panic::catch_unwind(panics_for_nobody).is_err());
            let reports: Vec<String> = support::reports()
                .into_iter()
                .filter(|r| r.contains("capture_stack"))
                .collect();
            assert_eq!(reports.len(), 1, "{reports:?}");
            assert!(reports[0].contains("\"nobody-set-this\""), "{reports:?}");
        },
    );
}

/// A value whose `Drop` catches a panic of its own, as a thread unwinds
/// past it from another.
struct CatchesInItsDrop;

impl Drop for CatchesInItsDrop {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| panic!("caught inside a drop"));
    }
}

#[metlog::capture_stack(client = "raven-capture")]
fn panics_past_a_catching_drop() {
    let _catches = CatchesInItsDrop;
    panic!("the panic that unwinds");
}

#[metlog::capture_stack(client = "raven-capture")]
fn catches_a_panic_then_panics() {
    let _ = std::panic::catch_unwind(|| panic!("caught early"));
    panic!("the later panic");
}

/// Runs in a `Drop` while its thread unwinds, and panics itself (caught
/// by the `Drop`).
#[metlog::capture_stack(client = "raven-capture")]
fn annotated_panicking_in_a_drop() {
    panic!("inside the drop's call");
}

struct CallsAnnotatedInItsDrop;

impl Drop for CallsAnnotatedInItsDrop {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(annotated_panicking_in_a_drop);
    }
}

#[metlog::capture_stack(client = "raven-capture")]
fn panics_past_an_annotated_drop() {
    let _calls = CallsAnnotatedInItsDrop;
    panic!("the outer panic");
}

/// The panic reported is the one that unwinds out of the function: not a
/// panic a `Drop` caught on the way (attack F4), nor one the function
/// caught earlier; an annotated call inside a `Drop` reports its own; and
/// after a hook that does not chain, the message is still the panic's.
#[test]
fn the_panic_reported_is_the_one_that_unwinds() {
    support::in_own_process(
        &support::test_name!(the_panic_reported_is_the_one_that_unwinds),
        &[],
        || {
            let (client, capture) = client(raven());
            metlog::set_client("raven-capture", client);
            assert!(std::panic::catch_unwind(panics_past_a_catching_drop).is_err());
            assert!(std::panic::catch_unwind(catches_a_panic_then_panics).is_err());
            assert!(std::panic::catch_unwind(panics_past_an_annotated_drop).is_err());
            std::panic::set_hook(Box::new(|_| {}));
            assert!(std::panic::catch_unwind(|| panics("")).is_err());
            let values: Vec<Value> = capture
                .messages()
                .iter()
                .map(|m| decode(m)["sentry.interfaces.Exception"]["value"].clone())
                .collect();
            assert_eq!(
                values,
                [
                    "the panic that unwinds",
                    "the later panic",
                    "inside the drop's call",
                    "the outer panic",
                    "empty text",
                ]
            );
        },
    );
}

/// Recurses `depth` calls deep, then fails.
fn deep(depth: u32, client: &Client) {
    if depth == 0 {
        client.raven("deep", &ValueError(None));
    } else {
        deep(depth - 1, client);
    }
    std::hint::black_box(depth);
}

/// Every string and list of the event within raven's limits (400
/// characters, 50 entries), `fields.msg` cut as the event's, so a report
/// fits a datagram whatever the error says (attack F11: a 3.6 MB text made
/// a 3.6 MB message); a deep stack keeps its innermost 50 frames.
#[test]
fn huge_texts_and_stacks_are_cut_as_raven_cuts_them() {
    #[derive(Debug)]
    struct Huge;
    impl fmt::Display for Huge {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&"é".repeat(1 << 20))
        }
    }
    impl std::error::Error for Huge {}

    let (client, capture) = client(raven());
    let mut fields = Fields::new();
    for i in 0..100 {
        fields.insert(format!("f{i:03}"), "v".repeat(30));
    }
    client.raven_fields("x".repeat(3_600_000), &Huge, fields);
    deep(200, &client);
    let messages = capture.messages();
    let json = messages[0].to_json();
    assert!(json.len() < 65_507, "{} bytes", json.len());
    assert_eq!(
        messages[0].fields.get("msg").unwrap().as_str(),
        Some(&*"x".repeat(400))
    );
    fn check(value: &Value) {
        match value {
            Value::String(s) => assert!(s.chars().count() <= 400, "{} chars", s.len()),
            Value::Array(items) => {
                assert!(items.len() <= 50, "{} items", items.len());
                items.iter().for_each(check);
            }
            Value::Object(map) => {
                assert!(map.len() <= 50, "{} entries", map.len());
                map.values().for_each(check);
            }
            _ => {}
        }
    }
    let event = decode(&messages[0]);
    check(&event);
    let extra = event["extra"].as_object().unwrap();
    assert_eq!(extra["msg"].as_str().unwrap(), "x".repeat(400));
    assert!(extra.contains_key("logger") && extra.contains_key("severity"));
    assert_eq!(
        event["sentry.interfaces.Exception"]["value"],
        "é".repeat(400)
    );
    let deep_event = decode(&messages[1]);
    check(&deep_event);
    let frames = deep_event["sentry.interfaces.Stacktrace"]["frames"]
        .as_array()
        .unwrap();
    assert_eq!(frames.len(), 50);
    assert_eq!(raising_function(&deep_event), "deep");
}

/// Forms the attribute takes, as the function would without it.
struct Counter(Vec<u8>);

impl Counter {
    #[metlog::capture_stack(client = "raven-capture")]
    fn first(&mut self) -> &mut u8 {
        &mut self.0[0]
    }

    #[metlog::capture_stack(client = "raven-capture")]
    fn into_len(self) -> usize {
        self.0.len()
    }

    #[metlog::capture_stack(client = "raven-capture")]
    fn bytes(&self) -> impl Iterator<Item = &u8> + '_ {
        self.0.iter()
    }
}

#[metlog::capture_stack(client = "raven-capture")]
fn largest<T: PartialOrd + Copy>(items: &[T]) -> Option<T> {
    let mut best = *items.first()?;
    for &item in items {
        if item > best {
            return Some(item);
        }
        best = item;
    }
    Some(best)
}

/// # Safety
/// `p` points to a readable `u8`.
#[allow(unsafe_code)]
#[metlog::capture_stack(client = "raven-capture")]
unsafe fn read(p: *const u8) -> u8 {
    *p
}

#[metlog::capture_stack(client = "raven-capture")]
fn diverges() -> ! {
    panic!("diverges")
}

#[test]
fn capture_stack_takes_methods_generics_unsafe_and_never() {
    support::in_own_process(
        &support::test_name!(capture_stack_takes_methods_generics_unsafe_and_never),
        &[],
        || {
            let (client, capture) = client(raven());
            metlog::set_client("raven-capture", client);
            let mut counter = Counter(vec![1, 2]);
            *counter.first() += 1;
            assert_eq!(counter.bytes().copied().collect::<Vec<_>>(), [2, 2]);
            assert_eq!(counter.into_len(), 2);
            assert_eq!(largest(&[1, 3, 2]), Some(3));
            assert_eq!(largest::<u8>(&[]), None);
            #[allow(unsafe_code)]
            let byte = unsafe { read(&7) };
            assert_eq!(byte, 7);
            assert!(std::panic::catch_unwind(|| diverges()).is_err());
            let values: Vec<Value> = capture
                .messages()
                .iter()
                .map(|m| decode(m)["sentry.interfaces.Exception"]["value"].clone())
                .collect();
            assert_eq!(values, ["diverges"]);
        },
    );
}

/// The README's Sentry configuration, as written there: a panic on any
/// thread becomes one `sentry` message for the DSN it names.
#[test]
fn the_readme_sentry_configuration_reports_panics() {
    support::in_own_process(
        &support::test_name!(the_readme_sentry_configuration_reports_panics),
        &[],
        || {
            let readme = include_str!("../../README.md");
            let ini = readme
                .split("```ini\n")
                .find(|block| block.starts_with("[metlog_plugin_raven]"))
                .expect("the README's Sentry configuration")
                .split("```")
                .next()
                .unwrap();
            let text = format!("[metlog]\nlogger = myapp\nsender_class = capture\n{ini}");
            let client = metlog::config::from_ini_str(&text, "metlog").unwrap();
            let capture = client.sender_as::<CaptureSender>().unwrap().clone();
            assert!(std::thread::spawn(|| panic!("from the README"))
                .join()
                .is_err());
            let messages = capture.messages();
            assert_eq!(messages.len(), 1, "{messages:#?}");
            let dsn = messages[0].fields.get("dsn").unwrap().as_str().unwrap();
            assert!(ini.contains(&format!("dsn = {dsn}\n")), "{dsn}");
            let event = check_event("README", &messages[0]);
            assert_eq!(event["message"], "panic: from the README");
        },
    );
}

/// Pending once, then ready.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

#[metlog::capture_stack(client = "raven-capture")]
async fn panics_on_its_second_poll() {
    YieldOnce(false).await;
    panic!("boom");
}

fn stale_panic() {
    panic!("boom");
}

/// Each poll of an annotated `async fn` starts afresh: a panic caught
/// between two polls (on that thread, maybe another than the first poll's)
/// is not taken for the future's own, even with the same message and a
/// hook that does not chain hiding the future's.
#[test]
fn each_poll_of_an_annotated_future_starts_afresh() {
    support::in_own_process(
        &support::test_name!(each_poll_of_an_annotated_future_starts_afresh),
        &[],
        || {
            let (client, capture) = client(raven());
            metlog::set_client("raven-capture", client);
            let waker = support::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            let mut future = Box::pin(panics_on_its_second_poll());
            assert!(std::future::Future::poll(future.as_mut(), &mut cx).is_pending());
            assert!(std::panic::catch_unwind(stale_panic).is_err());
            std::panic::set_hook(Box::new(|_| {}));
            let second = std::panic::AssertUnwindSafe(|| {
                std::future::Future::poll(future.as_mut(), &mut cx)
            });
            assert!(std::panic::catch_unwind(second).is_err());
            let messages = capture.messages();
            assert_eq!(messages.len(), 1);
            let event = decode(&messages[0]);
            assert_eq!(event["message"], "panic: boom");
            let frames = event["sentry.interfaces.Stacktrace"]["frames"].to_string();
            assert!(!frames.contains("stale_panic"), "{frames}");
        },
    );
}

#[inline(never)]
fn cleanup_step(n: u8) {
    panic!("missing {n}");
}

#[inline(never)]
fn real_bug(n: u8) {
    panic!("missing {n}");
}

/// Catches a panic with the same text as the one it unwinds from.
struct CatchesTheSameText;

impl Drop for CatchesTheSameText {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| cleanup_step(7));
    }
}

#[metlog::capture_stack(client = "raven-capture")]
fn same_text_past_a_drop() {
    let _catches = CatchesTheSameText;
    real_bug(7);
}

#[metlog::capture_stack(client = "raven-capture")]
fn annotated_dup() {
    panic!("dup");
}

struct CallsAnnotatedDup;

impl Drop for CallsAnnotatedDup {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(annotated_dup);
    }
}

#[metlog::capture_stack(client = "raven-capture")]
fn dup_past_an_annotated_drop() {
    let _calls = CallsAnnotatedDup;
    panic!("dup");
}

#[metlog::capture_stack(client = "raven-capture")]
fn helper() {}

#[metlog::capture_stack(client = "raven-capture")]
fn inner() {
    panic!("inner boom");
}

#[metlog::capture_stack(client = "raven-capture")]
fn outer_of_inner() {
    inner();
}

/// Catches 8 panics of other texts: more than a thread keeps.
struct CatchesEight;

impl Drop for CatchesEight {
    fn drop(&mut self) {
        for i in 0..8 {
            let _ = std::panic::catch_unwind(|| panic!("other {i}"));
        }
    }
}

#[metlog::capture_stack(client = "raven-capture")]
fn outer_past_eight() {
    let _catches = CatchesEight;
    inner();
}

/// A sender that runs annotated code before it forwards.
struct CallsHelper(CaptureSender);

impl metlog::sender::Sender for CallsHelper {
    fn send(&self, record: metlog::Record<'_>) -> Result<(), metlog::sender::SendError> {
        helper();
        self.0.send(record)
    }
}

/// What the second outside attack found (each failed before its fix): a
/// formatted panic a `Drop` caught with the same text was reported for the
/// one leaving; a `Drop` calling an annotated function panicking with the
/// same text lost the one leaving; nested annotated functions reported a
/// panic twice when the thread's record of it was gone (a sender running
/// annotated code, a `Drop` catching 8 panics); after the panics plugin's
/// hook was replaced by one that does not chain, annotated functions
/// reported nothing.
#[test]
fn what_the_second_attack_found_stays_fixed() {
    support::in_own_process(
        &support::test_name!(what_the_second_attack_found_stays_fixed),
        &[],
        || {
            let capture = CaptureSender::new();
            let client = Client::builder("myapp")
                .plugin("raven", raven())
                .sender(CallsHelper(capture.clone()))
                .build();
            metlog::set_client("raven-capture", client.clone());
            let innermost = |i: usize| raising_function(&decode(&capture.messages()[i]));
            assert!(std::panic::catch_unwind(same_text_past_a_drop).is_err());
            assert_eq!(capture.messages().len(), 1);
            assert_eq!(innermost(0), "real_bug");
            assert!(std::panic::catch_unwind(dup_past_an_annotated_drop).is_err());
            assert_eq!(capture.messages().len(), 3, "both reported");
            assert_eq!(innermost(1), "annotated_dup");
            assert_eq!(innermost(2), "dup_past_an_annotated_drop");
            assert!(std::panic::catch_unwind(outer_of_inner).is_err());
            assert!(std::panic::catch_unwind(outer_past_eight).is_err());
            assert_eq!(capture.messages().len(), 5, "once each");
            assert_eq!(
                (innermost(3), innermost(4)),
                ("inner".into(), "inner".into())
            );
            metlog::plugin::panics::install_sentry(Some(client), std::time::Duration::from_secs(5));
            std::panic::set_hook(Box::new(|_| {}));
            assert!(std::panic::catch_unwind(inner).is_err());
            assert_eq!(capture.messages().len(), 6, "reported by the attribute");
        },
    );
}

#[metlog::capture_stack(client = "raven-third")]
fn tiny(i: u32) {
    panic!("tiny {i}");
}

/// Runs `.0` annotated calls that panic, as it is dropped.
struct Noisy(u32);

impl Drop for Noisy {
    fn drop(&mut self) {
        for i in 0..self.0 {
            let _ = std::panic::catch_unwind(|| tiny(i));
        }
    }
}

#[metlog::capture_stack(client = "raven-third")]
fn the_real_one() {
    panic!("the real one {}", std::hint::black_box(7));
}

#[metlog::capture_stack(client = "raven-third")]
fn past_noisy_drops(n: u32) {
    let _noisy = Noisy(n);
    the_real_one();
}

/// What the third outside attack found (failed before its fix): a panic
/// was reported twice once a `Drop` had reported 8 others while it
/// unwound. (A new panic in the box of one reported before: the unit test
/// `plugin::raven::caught::tests::a_new_panic_in_a_reported_ones_box_is_reported`.)
#[test]
fn what_the_third_attack_found_stays_fixed() {
    support::in_own_process(
        &support::test_name!(what_the_third_attack_found_stays_fixed),
        &[],
        || {
            let (client, capture) = client(raven());
            metlog::set_client("raven-third", client);
            let values = |from: usize| -> Vec<String> {
                capture.messages()[from..]
                    .iter()
                    .map(|m| {
                        decode(m)["sentry.interfaces.Exception"]["value"]
                            .as_str()
                            .unwrap()
                            .to_owned()
                    })
                    .collect()
            };
            for n in [8, 9, 20] {
                let from = capture.messages().len();
                assert!(std::panic::catch_unwind(|| past_noisy_drops(n)).is_err());
                let reported = values(from);
                let real = reported.iter().filter(|v| *v == "the real one 7").count();
                assert_eq!(
                    (real, reported.len()),
                    (1, n as usize + 1),
                    "n = {n}: {reported:?}"
                );
            }
        },
    );
}
