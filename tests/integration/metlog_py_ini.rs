//! Every INI example in metlog-py 0.10.0's and metlog-cef 0.2's docs and
//! tests (`fixtures/metlog-py-ini/`, provenance in its README.md), loaded
//! through the public loaders: each configures what metlog-py configured
//! with it, or — where it needs a Python class of metlog-py's own tests,
//! which have no Rust counterpart, or where metlog-py and metlog-cef refuse
//! it too — fails with an error that names the cause.
//!
//! What the real metlog-py did with each is quoted from its run (branch
//! `research/issue-15`, `research/issue-15/ini/RESULTS.txt`).

use crate::support;

use std::path::PathBuf;

use metlog::config::{self, ConfigError, ConfigErrorKind, ConfigValue};
use metlog::plugin::cef::{Cef, CefContext, CefSyslog};
use metlog::sender::{CaptureSender, ZmqSender};
use metlog::{Client, Decorator, Severity};

/// Every example, each loaded by one test below.
const EXAMPLES: [&str; 21] = [
    "01-docs-config-main.ini",
    "02-docs-config-filters.ini",
    "03-docs-config-plugin-dummysection.ini",
    "04-docs-getstarted-main.ini",
    "05-test_config-simple.ini",
    "06-test_config-multiline.ini",
    "07-test_config-environ_vars-1.ini",
    "08-test_config-environ_vars-2-missing.ini",
    "09-test_config-int_bool_conversions.ini",
    "10-test_config-global_config.ini",
    "11-test_config-filters.ini",
    "12-test_config-plugins.ini",
    "13-test_config-handshake_no_backend.ini",
    "14-test_config-handshake_with_backend.ini",
    "15-test_config-plugin_override-1.ini",
    "16-test_config-plugin_override-2-clash.ini",
    "17-metlog_cef-test_cef-setUp.ini",
    "18-metlog_cef-test_cef-extra_config.ini",
    "19-metlog_cef-test_cef-bad_option.ini",
    "20-metlog_cef-docs-config-minimal.ini",
    "21-metlog_cef-docs-config-all.ini",
];

/// Examples that are a filter's or a plugin's sections only: loaded after
/// the client section metlog-py's run put before them.
const FRAGMENTS: [&str; 4] = [
    "02-docs-config-filters.ini",
    "03-docs-config-plugin-dummysection.ini",
    "20-metlog_cef-docs-config-minimal.ini",
    "21-metlog_cef-docs-config-all.ini",
];
const CLIENT_SECTION: &str = "[metlog]\nsender_class = metlog.senders.DebugCaptureSender\n\n";

fn path(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/metlog-py-ini"
    ))
    .join(name)
}

fn text(name: &str) -> String {
    let text = std::fs::read_to_string(path(name)).unwrap();
    if FRAGMENTS.contains(&name) {
        format!("{CLIENT_SECTION}{text}")
    } else {
        text
    }
}

/// Loads example `name` at `section` as a user would: the file itself with
/// `from_ini_file` (a fragment, after its client section, as text).
fn load(name: &str, section: &str) -> Result<Client, ConfigError> {
    if FRAGMENTS.contains(&name) {
        config::from_ini_str(&text(name), section)
    } else {
        config::from_ini_file(path(name), section)
    }
}

/// Loads an example that must load, checking that the strict loader takes
/// it too: nothing in it was left out as unknown.
fn loads(name: &str, section: &str) -> Client {
    let client = load(name, section).unwrap_or_else(|e| panic!("{name}: {e}"));
    config::from_ini_str_strict(&text(name), section)
        .unwrap_or_else(|e| panic!("{name} (strict): {e}"));
    client
}

/// Loads an example that must fail; its error, as shown.
fn fails(name: &str, section: &str, kind: ConfigErrorKind) -> String {
    let err = load(name, section).expect_err(name);
    assert_eq!(err.kind(), kind, "{name}: {err}");
    err.to_string()
}

/// The example as parsed, before any class is looked up: the values
/// metlog-py's parser gave.
fn parsed(name: &str, section: &str) -> config::Config {
    config::config_from_ini_str(&text(name), section).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn s(text: &str) -> ConfigValue {
    ConfigValue::Str(text.to_owned())
}

fn list(items: &[&str]) -> ConfigValue {
    ConfigValue::List(items.iter().map(|i| s(i)).collect())
}

/// Loaded with the test's capture sender, metlog-py's `DebugCaptureSender`:
/// logger `''`, severity 6, nothing else.
fn assert_plain_capture(name: &str, client: &Client) -> CaptureSender {
    assert_eq!(client.logger(), "", "{name}");
    assert_eq!(client.severity(), Severity::Informational, "{name}");
    client
        .sender_as::<CaptureSender>()
        .unwrap_or_else(|| panic!("{name}: {}", client.sender_name()))
        .clone()
}

#[test]
fn every_example_has_its_test() {
    let mut found: Vec<String> = std::fs::read_dir(path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".ini"))
        .collect();
    found.sort();
    assert_eq!(found, EXAMPLES);
}

/// 01 and 04 (metlog-py's docs, "Configuration" and "Getting started"):
/// ZeroMQ, which these tests build (metlog's `zmq` feature; without it the
/// error says "the zmq sender needs metlog's `zmq` cargo feature", see the
/// library's own tests). metlog-py without pyzmq: "ValueError: Must have
/// `pyzmq` installed to use ZmqPubSender".
#[test]
fn docs_main_examples_01_04_load_with_zeromq() {
    // `global_disabled_decorators = incr_count` switches `incr` off,
    // process-wide: the other tests' annotated functions would stop reporting.
    support::in_own_process(
        &support::test_name!(docs_main_examples_01_04_load_with_zeromq),
        &[],
        || {
            for name in ["01-docs-config-main.ini", "04-docs-getstarted-main.ini"] {
                let client = loads(name, "metlog");
                assert_eq!(client.logger(), "myapp", "{name}");
                assert_eq!(client.severity(), Severity::Warning, "{name}");
                assert!(client.is_timer_disabled("foo") && client.is_timer_disabled("bar"));
                assert!(!client.is_timer_disabled("baz"), "{name}");
                assert!(client.sender_as::<ZmqSender>().is_some(), "{name}");
                // global_disabled_decorators = incr_count
                assert!(!metlog::is_decorator_enabled(Decorator::Incr), "{name}");
                assert!(metlog::is_decorator_enabled(Decorator::Timer), "{name}");
                let config = parsed(name, "metlog");
                assert_eq!(config.sender.options["bindstrs"], s("tcp://127.0.0.1:5565"));
                assert_eq!(
                    config.sender.options["queue_length"],
                    ConfigValue::Int(5000)
                );
                assert_eq!(config.global["disabled_decorators"], s("incr_count"));
            }
        },
    );
}

/// 02: metlog-py "OK … filters=['severity_max', 'type_whitelist']".
#[test]
fn docs_filters_example_02_loads() {
    let name = "02-docs-config-filters.ini";
    let client = loads(name, "metlog");
    let capture = assert_plain_capture(name, &client);
    // severity_max 4, then types timer and oldstyle only.
    client.warn("kept");
    client.info("above severity 4");
    client.metlog("counter").severity(Severity::Warning).send();
    client.timer_send("t", std::time::Duration::from_millis(3));
    let kept: Vec<_> = capture.messages();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!((&*kept[0].kind, &*kept[0].payload), ("oldstyle", "kept"));
    let config = parsed(name, "metlog");
    assert_eq!(config.filters.len(), 2);
    assert_eq!(
        config.filters[1].options["types"],
        list(&["timer", "oldstyle"])
    );
}

/// 03: metlog-py binds `dummy` from its own test module's
/// `metlog.tests.plugin.config_plugin`, which has no Rust counterpart.
#[test]
fn docs_plugin_example_03_names_metlog_pys_test_plugin() {
    let name = "03-docs-config-plugin-dummysection.ini";
    let err = fails(name, "metlog", ConfigErrorKind::UnknownProvider);
    assert!(
        err.contains("unknown plugin provider \"metlog.tests.plugin.config_plugin\""),
        "{err}"
    );
    assert!(err.contains("[metlog_plugin_dummysection]"), "{err}");
    let plugin = &parsed(name, "metlog").plugins["dummysection"];
    assert_eq!(plugin.provider, "metlog.tests.plugin.config_plugin");
    assert_eq!(plugin.options["port"], ConfigValue::Int(8080));
    assert_eq!(plugin.options["host"], s("localhost"));
}

/// 05: metlog-py "OK logger='' severity=6 sender=DebugCaptureSender".
#[test]
fn test_config_simple_05_loads() {
    let name = "05-test_config-simple.ini";
    let client = loads(name, "metlog_config");
    assert_plain_capture(name, &client);
    assert_eq!(client.plugin_names().count(), 0);
}

/// 06 and 09 need `metlog.tests.test_config.MockSender` (a `mock.Mock()`
/// in metlog-py's tests): named in the error; the values are parsed as
/// metlog-py parses them.
#[test]
fn test_config_mock_sender_examples_06_09_name_the_class() {
    for name in [
        "06-test_config-multiline.ini",
        "09-test_config-int_bool_conversions.ini",
    ] {
        let err = fails(name, "metlog_config", ConfigErrorKind::UnknownProvider);
        assert!(
            err.contains("unknown sender class \"metlog.tests.test_config.MockSender\""),
            "{err}"
        );
        assert!(
            err.contains("[metlog_config] line 2: sender_class"),
            "{err}"
        );
    }
    let options = parsed("06-test_config-multiline.ini", "metlog_config")
        .sender
        .options;
    assert_eq!(options["multi"], list(&["foo", "bar"]));

    let options = parsed("09-test_config-int_bool_conversions.ini", "metlog_config")
        .sender
        .options;
    assert_eq!(options["integer"], ConfigValue::Int(123));
    for key in ["true1", "true2", "true3", "true4"] {
        assert_eq!(options[key], ConfigValue::Bool(true), "{key}");
    }
    for key in ["false1", "false2", "false3", "false4"] {
        assert_eq!(options[key], ConfigValue::Bool(false), "{key}");
    }
}

/// 07: `sender_class = ${SENDER_TEST}`, which metlog-py's test sets to
/// `metlog.senders.DebugCaptureSender`: set in a child process of its own,
/// not in this one (tests may share it).
#[test]
fn test_config_environ_vars_07_loads_with_sender_test_set() {
    let name = "07-test_config-environ_vars-1.ini";
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("sender_test") {
        let client = loads(name, "test1");
        assert_plain_capture(name, &client);
        println!("loaded {name}");
        return;
    }
    let (stdout, _) = support::run_child(
        &support::test_name!(test_config_environ_vars_07_loads_with_sender_test_set),
        "sender_test",
        &[("SENDER_TEST", "metlog.senders.DebugCaptureSender")],
    );
    assert!(stdout.contains(&format!("loaded {name}")), "{stdout}");
    if std::env::var_os("SENDER_TEST").is_none() {
        let err = fails(name, "test1", ConfigErrorKind::MissingVariable);
        assert!(err.contains("SENDER_TEST"), "{err}");
    }
}

/// 08: metlog-py "EnvironmentNotFoundError: Variable not found 'NO_SUCH_VAR'".
#[test]
fn test_config_environ_vars_08_names_the_missing_variable() {
    let name = "08-test_config-environ_vars-2-missing.ini";
    let err = fails(name, "test1", ConfigErrorKind::MissingVariable);
    assert!(
        err.ends_with(
            "[test1] line 2: sender_class: environment variable NO_SUCH_VAR is not set \
             (used as ${NO_SUCH_VAR})"
        ),
        "{err}"
    );
}

/// 10: `global_foo`, `global_multi` kept in the process-wide settings.
#[test]
fn test_config_global_config_10_loads() {
    let name = "10-test_config-global_config.ini";
    let client = loads(name, "metlog");
    assert_plain_capture(name, &client);
    let globals = config::global_config();
    assert_eq!(globals["foo"], s("bar"));
    assert_eq!(globals["multi"], list(&["one", "two"]));
}

/// 11: metlog-py "OK … filters=['severity_max', 'type_whitelist']".
#[test]
fn test_config_filters_11_loads() {
    let name = "11-test_config-filters.ini";
    let client = loads(name, "metlog");
    let capture = assert_plain_capture(name, &client);
    // severity_max 6, then types foo, bar and baz only.
    client.metlog("foo").payload("kept").send();
    client.metlog("baz").payload("kept too").send();
    client.metlog("bar").severity(Severity::Debug).send();
    client.metlog("qux").send();
    client.info("oldstyle");
    let kept: Vec<String> = capture
        .messages()
        .iter()
        .map(|m| m.payload.to_string())
        .collect();
    assert_eq!(kept, ["kept", "kept too"]);
}

/// 12 and 15 bind `dummy` from `metlog.tests.plugin:config_plugin`, a
/// module of metlog-py's tests: named in the error (15's `override=True`
/// lets it past the name check, as in metlog-py).
#[test]
fn test_config_plugin_examples_12_15_name_metlog_pys_test_plugin() {
    // The provider registry is process-wide, and `config`'s plugin tests
    // register a provider of this very name (for metlog-py's own tests).
    support::in_own_process(
        &support::test_name!(test_config_plugin_examples_12_15_name_metlog_pys_test_plugin),
        &[],
        || {
            let name = "12-test_config-plugins.ini";
            let err = fails(name, "metlog", ConfigErrorKind::UnknownProvider);
            assert!(
                err.contains("unknown plugin provider \"metlog.tests.plugin:config_plugin\""),
                "{err}"
            );
            let plugin = &parsed(name, "metlog").plugins["dummy"];
            assert_eq!(plugin.options["verbose"], ConfigValue::Bool(true));
            assert_eq!(plugin.options["foo"], s("bar"));
            assert_eq!(plugin.options["some_list"], list(&["dog", "cat", "bus"]));
            assert_eq!(plugin.options["port"], ConfigValue::Int(8080));
            assert_eq!(plugin.options["host"], s("lolcathost"));

            let name = "15-test_config-plugin_override-1.ini";
            let err = fails(name, "metlog", ConfigErrorKind::UnknownProvider);
            assert!(
                err.contains("unknown plugin provider \"metlog.tests.plugin:config_plugin\""),
                "{err}"
            );
            let plugin = &parsed(name, "metlog").plugins["exception"];
            assert!(plugin.override_);
            assert!(plugin.options.is_empty(), "{:?}", plugin.options);
        },
    );
}

/// 13 and 14: metlog-py's `ZmqHandshakePubSender` (with pyzmq) loads as a
/// ZeroMQ publisher connected to `connect_bind`, `hwm` messages deep; its
/// handshake is not made, which is reported.
#[test]
fn test_config_handshake_examples_13_14_load_as_a_zeromq_publisher() {
    support::collect_reports();
    for name in [
        "13-test_config-handshake_no_backend.ini",
        "14-test_config-handshake_with_backend.ini",
    ] {
        let client = load(name, "metlog").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(client.sender_as::<ZmqSender>().is_some(), "{name}");
        let options = parsed(name, "metlog").sender.options;
        assert_eq!(options["handshake_bind"], s("tcp://localhost:5180"));
        assert_eq!(options["connect_bind"], s("tcp://localhost:5190"));
        assert_eq!(options["handshake_timeout"], ConfigValue::Int(200));
        assert_eq!(options["hwm"], ConfigValue::Int(100));
        // Nothing in it is unknown to the strict loader either.
        config::from_ini_str_strict(&text(name), "metlog").unwrap();
    }
    let options = parsed("14-test_config-handshake_with_backend.ini", "metlog")
        .sender
        .options;
    assert_eq!(options["livecheck"], ConfigValue::Int(30));
    let reports = support::reports();
    assert!(
        reports
            .iter()
            .any(|r| r.contains("without metlog-py's handshake; option(s) ")
                && !r.contains("  ")
                && r.contains("tcp://localhost:5190")
                && r.contains("handshake_bind")),
        "{reports:?}"
    );
}

/// 16: a plugin named `exception` without `override`. metlog-py:
/// "SyntaxError: The name [exception] is already in use" — the same refusal.
#[test]
fn test_config_plugin_override_16_refuses_the_clash_as_metlog_py() {
    let name = "16-test_config-plugin_override-2-clash.ini";
    let err = fails(name, "metlog", ConfigErrorKind::Plugin);
    assert!(
        err.contains(
            "[metlog_plugin_exception] line 3: plugin name \"exception\" is one of the client's \
             own methods; set `override = true` to replace it"
        ),
        "{err}"
    );
}

/// 17 and 20: metlog-cef's plugin, bound as `cef`, with its defaults.
#[test]
fn metlog_cef_examples_17_20_bind_cef() {
    for name in [
        "17-metlog_cef-test_cef-setUp.ini",
        "20-metlog_cef-docs-config-minimal.ini",
    ] {
        let client = loads(name, "metlog");
        assert_plain_capture(name, &client);
        let cef = client
            .plugin::<Cef>("cef")
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(cef, &Cef::default(), "{name}");
        assert_eq!(client.plugin_names().collect::<Vec<_>>(), ["cef"], "{name}");
    }
}

/// 18 and 21: metlog-cef's syslog options, sent with every event as
/// `fields.cef_meta` (what the router's CEF output reads).
#[test]
fn metlog_cef_examples_18_21_bind_cef_with_syslog_options() {
    for (name, options, ident) in [
        (
            "18-metlog_cef-test_cef-extra_config.ini",
            "PID,NDELAY",
            "some_identifier",
        ),
        (
            "21-metlog_cef-docs-config-all.ini",
            "NDELAY,PID",
            "my_funny_app",
        ),
    ] {
        let client = loads(name, "metlog");
        let capture = assert_plain_capture(name, &client);
        let syslog = CefSyslog {
            options: Some(options.to_owned()),
            facility: Some("KERN".to_owned()),
            ident: Some(ident.to_owned()),
            priority: Some("EMERG".to_owned()),
        };
        assert_eq!(
            client.plugin::<Cef>("cef").unwrap().syslog,
            syslog,
            "{name}"
        );
        client.cef("login", 5, &CefContext::new(), []).unwrap();
        let sent = capture.json();
        assert_eq!(sent.len(), 1, "{name}");
        assert_eq!(sent[0]["type"], "cef");
        assert_eq!(
            sent[0]["fields"]["cef_meta"],
            serde_json::json!({
                "syslog_options": options,
                "syslog_facility": "KERN",
                "syslog_ident": ident,
                "syslog_priority": "EMERG",
            }),
            "{name}"
        );
    }
}

/// 19: `syslog_options=PIDBAD`. metlog-cef: "InvalidArgumentError: Option
/// should be one of: ['PID', 'CONS', 'NDELAY', 'NOWAIT', 'LOG_PERROR']".
#[test]
fn metlog_cef_bad_option_19_is_refused_as_metlog_cef_does() {
    let name = "19-metlog_cef-test_cef-bad_option.ini";
    let err = fails(name, "metlog", ConfigErrorKind::Plugin);
    assert!(
        err.contains(
            "[metlog_plugin_cef] line 4: plugin \"cef\": syslog_options: unknown option \"PIDBAD\""
        ),
        "{err}"
    );
    assert!(err.contains("PID, CONS, NDELAY, NOWAIT"), "{err}");
}

/// What Python 2.7's `ConfigParser` (metlog-py's reader) accepts loads alike:
/// `;` comments after whitespace, a comment after a section header, `REM`
/// lines, a section given twice (one section), an option given twice (the
/// last wins, reported), `""` for empty. The values asserted are what
/// `ConfigParser.RawConfigParser` read from this text under Python 2.7.
#[test]
fn what_configparser_accepts_loads_alike() {
    support::collect_reports();
    let text = "[metlog] ; the client\nlogger = x ; a comment\nseverity = 4 ; warn\n\
                REM a comment\nrem too\nsender_class = metlog.senders.UdpSender\n\
                sender_host = 127.0.0.1 ; local relay\nsender_port = 5565\n\
                [other]\na = 1\n[metlog]\nlogger = y\n";
    let client = config::from_ini_str(text, "metlog").unwrap();
    assert_eq!(client.logger(), "y");
    assert_eq!(client.severity(), Severity::Warning);
    let udp = client.sender_as::<metlog::sender::UdpSender>().unwrap();
    let hosts: Vec<String> = udp.destinations().iter().map(|d| d.to_string()).collect();
    assert_eq!(hosts, ["127.0.0.1:5565"]);
    let reports = support::reports();
    assert!(
        reports
            .iter()
            .any(|r| r.contains("[metlog] line 12") && r.contains("`logger` given again")),
        "{reports:?}"
    );
    // The strict loader refuses the repeated option, naming its line.
    let err = config::from_ini_str_strict(text, "metlog").unwrap_err();
    assert_eq!((err.key(), err.line()), (Some("logger"), Some(12)), "{err}");
}

/// Python 2 read the file as bytes: a Latin-1 name in a comment, or in a
/// section metlog does not read, did not matter, and does not here; in a
/// value metlog reads, text that is not UTF-8 is an error naming its line.
#[test]
fn a_comment_in_another_encoding_loads() {
    let dir = std::env::temp_dir().join(format!("metlog-ini-latin1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let comment = dir.join("comment.ini");
    std::fs::write(
        &comment,
        b"# author: J\xf6rg\n[metlog] ; caf\xe9\nlogger = app ;caf\xe9\n; caf\xe9\nREM caf\xe9\n\
          sender_class = capture\n[caf\xe9]\ncaf\xe9 = 1\n[app:main]\nname = caf\xe9\n",
    )
    .unwrap();
    let client = config::from_ini_file(&comment, "metlog").unwrap();
    assert_eq!(client.logger(), "app");
    let value = dir.join("value.ini");
    std::fs::write(
        &value,
        b"[metlog]\nlogger = caf\xe9\nsender_class = capture\n",
    )
    .unwrap();
    let err = config::from_ini_file(&value, "metlog")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2 is not UTF-8"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bytes that are not UTF-8 reach a value metlog reads through `[DEFAULT]`
/// too — a `%(name)s` reference, or a client option inherited as it is —
/// and are refused there, naming the option (an attack found the logger
/// built as "caf\u{fffd}"). A U+FFFD written in a value is kept, though
/// the file is Latin-1 elsewhere.
#[test]
fn text_that_is_not_utf8_is_refused_through_default_as_well() {
    let dir = std::env::temp_dir().join(format!("metlog-ini-default-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let load = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        config::from_ini_file(&path, "metlog").map(|client| client.logger().to_owned())
    };
    let err = load(
        "reference.ini",
        b"[DEFAULT]\nname = caf\xe9\n[metlog]\nlogger = %(name)s\nsender_class = capture\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("option `logger` (line 4)"), "{err}");
    assert!(
        err.contains("not UTF-8 through a %(name)s reference"),
        "{err}"
    );
    let err = load(
        "inherited.ini",
        b"[DEFAULT]\nseverity = \xff\n[metlog]\nlogger = a\nsender_class = capture\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("line 2 is not UTF-8 (option `severity`, from [DEFAULT])"),
        "{err}"
    );
    // Unread: a [DEFAULT] key no option of metlog's refers to.
    let logger = load(
        "unread.ini",
        b"[DEFAULT]\nhere = /srv/caf\xe9\n[metlog]\nlogger = a\nsender_class = capture\n",
    );
    assert_eq!(logger.unwrap(), "a");
    let genuine = [
        b"# J\xf6rg\n[metlog]\nlogger = a".as_slice(),
        "\u{fffd}".as_bytes(),
        b"b\nsender_class = capture\n",
    ]
    .concat();
    let logger = load("genuine.ini", &genuine);
    assert_eq!(logger.unwrap(), "a\u{fffd}b");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// metlog's section usually lives in a Paste/Pyramid file: configparser
/// interpolates a value when it is read, so `%(here)s` (which Paste
/// supplies) or a lone `%` in `[app:main]` is no concern of metlog-py's —
/// nor of this loader's. In the sections metlog reads, they are errors.
#[test]
fn a_paste_file_with_its_own_interpolation_loads() {
    let text = "[app:main]\nsqlalchemy.url = sqlite:///%(here)s/db.sqlite\nlog = 100% sure\n\
                self = %(self)s\n\n[metlog]\nlogger = myapp\n\
                sender_class = metlog.senders.DebugCaptureSender\n";
    let client = config::from_ini_str(text, "metlog").unwrap();
    assert_eq!(client.logger(), "myapp");
    let err = config::from_ini_str(&format!("{text}sender_x = %(here)s\n"), "metlog")
        .unwrap_err()
        .to_string();
    assert!(err.contains("%(here)s refers to no option"), "{err}");
}
