//! Configuration: metlog-py's own configuration tests, in Rust, plus TOML,
//! serde, errors that say where, and the process-wide settings.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Mutex;

use metlog::config::{self, ConfigErrorKind, ConfigValue};
use metlog::sender::{CaptureSender, UdpSender};
use metlog::Severity;

/// A sender class of the tests' own, recording the options it was given
/// (metlog-py's tests use a Mock sender class for this).
static MOCK_OPTIONS: Mutex<Vec<BTreeMap<String, ConfigValue>>> = Mutex::new(Vec::new());

fn register_mock() {
    config::register_sender("tests.MockSender", |options| {
        MOCK_OPTIONS.lock().unwrap().push(options.clone());
        Ok(Box::new(metlog::sender::NullSender))
    });
}

/// The options the mock sender was last given that include `key` (the
/// tests that load it run at the same time: each looks for its own).
fn mock_options_with(key: &str) -> BTreeMap<String, ConfigValue> {
    MOCK_OPTIONS
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|options| options.contains_key(key))
        .cloned()
        .unwrap_or_else(|| panic!("the mock sender was never given `{key}`"))
}

fn s(text: &str) -> ConfigValue {
    ConfigValue::Str(text.to_owned())
}

#[test]
fn simple_config() {
    let client = config::from_ini_str(
        "\n    [metlog_config]\n    sender_class = metlog.senders.DebugCaptureSender\n",
        "metlog_config",
    )
    .unwrap();
    assert!(client.sender_as::<CaptureSender>().is_some());
    assert_eq!(client.severity(), Severity::Informational);
}

#[test]
fn multiline_config() {
    register_mock();
    let _client = config::from_ini_str(
        "[metlog_config]\nsender_class = tests.MockSender\nsender_multi = foo\n               bar\n",
        "metlog_config",
    )
    .unwrap();
    assert_eq!(
        mock_options_with("multi")["multi"],
        ConfigValue::List(vec![s("foo"), s("bar")])
    );
}

#[test]
fn environ_vars() {
    // Sets an environment variable: the environment is the process's, read by
    // the other tests' threads (and by libc without Rust's lock).
    support::in_own_process(&support::test_name!(environ_vars), &[], || {
        std::env::set_var(
            "METLOG_TEST_SENDER_CLASS",
            "metlog.senders.DebugCaptureSender",
        );
        let client = config::from_ini_str(
            "[test1]\nsender_class = ${METLOG_TEST_SENDER_CLASS}\n",
            "test1",
        )
        .unwrap();
        assert!(client.sender_as::<CaptureSender>().is_some());

        let err = config::from_ini_str("[test1]\n\nsender_class = ${NO_SUCH_VAR}\n", "test1")
            .unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::MissingVariable);
        assert_eq!(
            (err.section(), err.key(), err.line()),
            (Some("test1"), Some("sender_class"), Some(3))
        );
        assert!(err.to_string().contains("NO_SUCH_VAR"), "{err}");
    });
}

#[test]
fn int_bool_conversions() {
    register_mock();
    let _client = config::from_ini_str(
        "[metlog_config]
sender_class = tests.MockSender
sender_integer = 123
sender_true1 = True
sender_true2 = t
sender_true3 = Yes
sender_true4 = on
sender_false1 = false
sender_false2 = F
sender_false3 = no
sender_false4 = OFF
",
        "metlog_config",
    )
    .unwrap();
    let options = mock_options_with("integer");
    assert_eq!(options["integer"], ConfigValue::Int(123));
    for key in ["true1", "true2", "true3", "true4"] {
        assert_eq!(options[key], ConfigValue::Bool(true), "{key}");
    }
    for key in ["false1", "false2", "false3", "false4"] {
        assert_eq!(options[key], ConfigValue::Bool(false), "{key}");
    }
}

#[test]
fn global_config() {
    config::from_ini_str(
        "[metlog]\nsender_class = metlog.senders.DebugCaptureSender\nglobal_foo = bar\nglobal_multi = one\n               two\n",
        "metlog",
    )
    .unwrap();
    let globals = config::global_config();
    assert_eq!(globals["foo"], s("bar"));
    assert_eq!(
        globals["multi"],
        ConfigValue::List(vec![s("one"), s("two")])
    );
}

#[test]
fn filters_config() {
    let client = config::from_ini_str(
        "[metlog]
sender_class = metlog.senders.DebugCaptureSender
[metlog_filter_sev_max]
provider = metlog.filters.severity_max_provider
severity = 6
[metlog_filter_type_whitelist]
provider = metlog.filters.type_whitelist_provider
types = foo
        bar
        baz
",
        "metlog",
    )
    .unwrap();
    client
        .metlog("bar")
        .severity(Severity::Informational)
        .send(); // passes both
    client.metlog("bar").severity(Severity::Debug).send(); // severity 7 > 6
    client.metlog("bawlp").severity(Severity::Error).send(); // not whitelisted
    let capture = client.sender_as::<CaptureSender>().unwrap();
    assert_eq!(capture.len(), 1);
    assert_eq!(client.stats().filtered, 2);
}

#[test]
fn type_severity_max_filter_and_blacklist() {
    let client = config::from_ini_str(
        "[metlog]
sender_class = capture
[metlog_filter_1]
provider = type_severity_max
oldstyle = warning
[metlog_filter_2]
provider = metlog.filters.type_blacklist_provider
types = noise, chatter
",
        "metlog",
    )
    .unwrap();
    client.info("dropped: oldstyle above warning");
    client.warn("kept");
    client.metlog("noise").send();
    client.incr("kept too");
    assert_eq!(client.sender_as::<CaptureSender>().unwrap().len(), 2);
}

/// The tests' plugin: it keeps the options it was configured with.
#[derive(Debug)]
struct ConfigPlugin(BTreeMap<String, ConfigValue>);

fn register_plugins() {
    // metlog-py's test plugin binds under its `metlog_name`, `dummy`.
    metlog::plugin::register_provider_as("metlog.tests.plugin:config_plugin", "dummy", |options| {
        let mut options = options.clone();
        options.remove("verbose");
        Ok(Box::new(ConfigPlugin(options)))
    });
}

#[test]
fn plugins_config() {
    register_plugins();
    let client = config::from_ini_str(
        "[metlog]
sender_class = metlog.senders.DebugCaptureSender
[metlog_plugin_dummy]
provider=metlog.tests.plugin:config_plugin
verbose=True
foo=bar
some_list = dog
            cat
            bus
port=8080
host=lolcathost
",
        "metlog",
    )
    .unwrap();
    let plugin = client
        .plugin::<ConfigPlugin>("dummy")
        .expect("bound as `dummy`");
    let expected: BTreeMap<String, ConfigValue> = [
        ("host".to_owned(), s("lolcathost")),
        ("foo".to_owned(), s("bar")),
        (
            "some_list".to_owned(),
            ConfigValue::List(vec![s("dog"), s("cat"), s("bus")]),
        ),
        ("port".to_owned(), ConfigValue::Int(8080)),
    ]
    .into_iter()
    .collect();
    assert_eq!(plugin.0, expected);
    assert_eq!(client.plugin_names().collect::<Vec<_>>(), ["dummy"]);
}

#[test]
fn plugin_override() {
    register_plugins();
    let client = config::from_ini_str(
        "[metlog]\nsender_class = capture\n\n[metlog_plugin_exception]\noverride=True\nprovider=metlog.tests.plugin:config_plugin\n",
        "metlog",
    )
    .unwrap();
    // Bound under the provider's name, `dummy` (metlog-py's
    // `client.dummy`), not the section's.
    assert!(client.plugin::<ConfigPlugin>("dummy").is_some());
    assert!(client.plugin::<ConfigPlugin>("exception").is_none());

    // Without `override`, a plugin may not take the name of a client
    // method: metlog-py's `plugin_exception` provider binds `exception`.
    metlog::plugin::register_provider_as(
        "metlog.tests.plugin_exception:config_plugin",
        "exception",
        |options| Ok(Box::new(ConfigPlugin(options.clone()))),
    );
    let err = config::from_ini_str(
        "[metlog]\nsender_class = capture\n[metlog_plugin_exception]\nprovider=metlog.tests.plugin_exception:config_plugin\n",
        "metlog",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Plugin);
    assert!(err.to_string().contains("override = true"), "{err}");

    let err = config::from_ini_str(
        "[metlog]\n[metlog_plugin_x]\nprovider = no.such:plugin\n",
        "metlog",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::UnknownProvider);
    assert!(err.to_string().contains("no.such:plugin"), "{err}");
}

fn marketplace_config() -> config::Config {
    // metlog-py's test uses hosts logstash1/logstash2; names that resolve
    // here stand in for them.
    config::config_from_toml_str(
        r#"
logger = "addons-marketplace-dev"
[sender]
class = "metlog.senders.UdpSender"
host = ["127.0.0.1", "localhost"]
port = "5566"
"#,
    )
    .unwrap()
}

#[test]
fn load_config_multiple_times() {
    let cfg = marketplace_config();
    let a = cfg.build().unwrap();
    let b = cfg.build().unwrap();
    assert_eq!(a.logger(), b.logger());
    assert_eq!(a.sender_as::<UdpSender>().unwrap().destinations().len(), 2);
}

#[test]
fn clients_expose_configuration() {
    let cfg = marketplace_config();
    let client = cfg.build().unwrap();
    let json: serde_json::Value = serde_json::from_str(client.config_json().unwrap()).unwrap();
    assert_eq!(json["logger"], "addons-marketplace-dev");
    assert_eq!(json["sender"]["class"], "metlog.senders.UdpSender");
    assert_eq!(
        json["sender"]["host"],
        serde_json::json!(["127.0.0.1", "localhost"])
    );
    // It is the effective configuration: it reads back to the same Config.
    let back: config::Config = serde_json::from_value(json).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn toml_and_serde_share_one_model() {
    let toml = r#"
logger = "svc"
severity = "warning"
disabled_timers = ["slow"]
sender = { class = "capture", capacity = 5 }

[[filters]]
provider = "type_blacklist"
types = ["noise"]

[global]
color = "blue"
"#;
    let from_toml = config::config_from_toml_str(toml).unwrap();
    let from_json: config::Config = serde_json::from_value(serde_json::json!({
        "logger": "svc", "severity": 4, "disabled_timers": ["slow"],
        "sender": {"class": "capture", "capacity": 5},
        "filters": [{"provider": "type_blacklist", "types": ["noise"]}],
        "global": {"color": "blue"}
    }))
    .unwrap();
    assert_eq!(from_toml, from_json);
    let client = from_toml.build().unwrap();
    assert!(client.is_timer_disabled("slow"));
    for _ in 0..10 {
        client.incr("x");
    }
    client.metlog("noise").send();
    let capture = client.sender_as::<CaptureSender>().unwrap();
    assert_eq!((capture.len(), capture.capacity()), (5, 5));
}

#[test]
fn routes_send_types_to_their_own_sender() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    let client = config::from_ini_str(
        &format!(
            "[metlog]\nlogger = app\nsender_class = capture\n\n[metlog_route_metrics]\ntypes = counter\n        timer\nclass = statsd\nhost = 127.0.0.1\nport = {port}\nprefix = app\n"
        ),
        "metlog",
    )
    .unwrap();
    client.incr("hits");
    client.info("to the default sender");
    client.flush();
    let mut buf = [0u8; 512];
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"app.hits:1|c");
    assert_eq!(client.stats().sent, 2);
}

#[test]
fn errors_name_file_section_key_and_line() {
    let cases: &[(&str, ConfigErrorKind, &str, usize)] = &[
        ("[metlog]\nsender_class = capture\nloger = typo\n", ConfigErrorKind::UnknownKey, "loger", 3),
        ("[metlog]\nsender_class = udp\nsender_hots = x\nsender_port = 1\n", ConfigErrorKind::UnknownKey, "sender_hots", 3),
        ("[metlog]\nsender_class = udp\nsender_port = http\n", ConfigErrorKind::InvalidValue, "sender_port", 3),
        ("[metlog]\nseverity = loud\n", ConfigErrorKind::InvalidValue, "severity", 2),
        ("[metlog]\nsender_class = pigeon\n", ConfigErrorKind::UnknownProvider, "sender_class", 2),
        ("[metlog]\nsender_class = capture\n[metlog_filter_x]\nprovider = severity_max\nseverity = 9\n", ConfigErrorKind::InvalidValue, "severity", 5),
        ("[metlog]\nsender_class = capture\n[metlog_filter_x]\nprovider = severity_maxx\n", ConfigErrorKind::UnknownProvider, "provider", 4),
        ("[metlog]\nglobal_disabled_decorators = timeitt\n", ConfigErrorKind::InvalidValue, "global_disabled_decorators", 2),
        ("[metlog]\nlogger = a\nlogger = b\n", ConfigErrorKind::Syntax, "logger", 3),
    ];
    for (text, kind, key, line) in cases {
        let err = config::from_ini_str_strict(text, "metlog").unwrap_err();
        assert_eq!(err.kind(), *kind, "{text:?}: {err}");
        assert_eq!(err.key(), Some(*key), "{text:?}: {err}");
        assert_eq!(err.line(), Some(*line), "{text:?}: {err}");
        assert!(err.to_string().contains(&format!("line {line}")), "{err}");
    }
    let err = config::from_ini_str("[other]\nx = 1\n", "metlog").unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::MissingSection);
    assert!(err.to_string().contains("found: other"), "{err}");

    let dir = std::env::temp_dir().join(format!("metlog-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.ini");
    std::fs::write(
        &path,
        "[metlog]\nsender_class = capture\nsender_capacity = many\n",
    )
    .unwrap();
    let err = config::from_ini_file(&path, "metlog").unwrap_err();
    assert_eq!(err.file(), Some(path.as_path()));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: [metlog] line 3: sender_capacity: expected an integer, found a string (\"many\")",
            path.display()
        )
    );
    let err = config::from_ini_file(dir.join("missing.ini"), "metlog").unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Io);
    assert!(err.to_string().contains("missing.ini"), "{err}");

    let toml_path = dir.join("app.toml");
    std::fs::write(&toml_path, "logger = \"a\"\nloger = \"typo\"\n").unwrap();
    let err = config::from_toml_file(&toml_path).unwrap_err();
    assert_eq!((err.kind(), err.line()), (ConfigErrorKind::Syntax, Some(2)));
    assert!(err.to_string().contains("loger"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_custom_sender_options_pass_through_unchecked() {
    register_mock();
    config::from_ini_str(
        "[m]\nsender_class = tests.MockSender\nsender_anything_goes = 1\n",
        "m",
    )
    .unwrap();
    assert_eq!(
        mock_options_with("anything_goes")["anything_goes"],
        ConfigValue::Int(1)
    );
}

#[test]
fn metlog_py_documentation_example() {
    // The shape of the example in metlog-py's "Metlog Configuration" docs.
    let text = "
[metlog]
logger = myapp
severity = 4
disabled_timers = foo
                  bar
sender_class = metlog.senders.UdpSender
sender_host = 127.0.0.1
sender_port = 5565

[metlog_filter_sev_max]
provider = metlog.filters.severity_max_provider
severity = 4
";
    let client = config::from_ini_str(text, "metlog").unwrap();
    assert_eq!(client.logger(), "myapp");
    assert_eq!(client.severity(), Severity::Warning);
    assert!(client.is_timer_disabled("foo") && client.is_timer_disabled("bar"));
    assert_eq!(
        client.sender_as::<UdpSender>().unwrap().destinations()[0].port(),
        5565
    );
}

#[test]
fn the_readme_ini_example_loads() {
    let readme = include_str!("../../README.md");
    let ini = readme
        .split("```ini\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let config = config::config_from_ini_str(ini, "metlog").unwrap();
    assert_eq!(config.logger, "myapp");
    assert_eq!(config.routes.len(), 1);
    assert_eq!(config.filters.len(), 1);
    assert_eq!(
        config.sender.options["host"],
        ConfigValue::List(vec![s("10.0.0.1"), s("10.0.0.2")])
    );
}

/// Errors found while building the client from a TOML file — not only the
/// parser's — name their table and line.
#[test]
fn toml_build_errors_give_the_line() {
    let text = r#"logger = "a"

[sender]
class = "udp"
host = "127.0.0.1"
port = "http"
"#;
    let err = config::from_toml_str(text).unwrap_err();
    assert_eq!(
        (err.kind(), err.section(), err.key(), err.line()),
        (
            ConfigErrorKind::InvalidValue,
            Some("sender"),
            Some("port"),
            Some(6)
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("[sender] line 6: port: "),
        "{err}"
    );

    let inline = "logger = \"a\"\nsender = { class = \"capture\", capacityy = 3 }\n";
    let err = config::from_toml_str(inline).unwrap_err();
    assert_eq!(
        (err.key(), err.line()),
        (Some("capacityy"), Some(2)),
        "{err}"
    );

    let routes = r#"logger = "a"
sender = { class = "null" }

[[routes]]
types = ["counter"]
sender = { class = "null" }

[[routes]]
types = ["timer"]
sender = { class = "statsd", host = "127.0.0.1", port = 70000 }
"#;
    let err = config::from_toml_str(routes).unwrap_err();
    assert_eq!((err.key(), err.line()), (Some("port"), Some(10)), "{err}");

    let filters = r#"logger = "a"

[[filters]]
provider = "severity_max"
severity = 4

[[filters]]
provider = "severity_max"
severity = "loud"
"#;
    let err = config::from_toml_str(filters).unwrap_err();
    assert_eq!(
        (err.key(), err.line()),
        (Some("severity"), Some(9)),
        "{err}"
    );
}

/// `main() -> Result<(), Box<dyn Error>>` prints `Error: {:?}`: that is the
/// one-line sentence, not the struct.
#[test]
fn config_errors_debug_as_their_sentence() {
    let err = config::from_ini_str("[metlog]\nsender_class = nope\n", "metlog").unwrap_err();
    let boxed: Box<dyn std::error::Error> = Box::new(err.clone());
    assert_eq!(format!("Error: {boxed:?}"), format!("Error: {err}"));
    assert!(!format!("{boxed:?}").contains("ConfigError {"), "{boxed:?}");
    assert!(
        format!("{err:#?}").contains("kind: UnknownProvider"),
        "{err:#?}"
    );
}

/// The UDP sender reads its queue options like every network sender: a bad
/// value is an error, a good one is applied.
#[test]
fn udp_queue_options_are_checked_and_applied() {
    let err = config::from_ini_str(
        "[metlog]\nsender_class = udp\nsender_host = 127.0.0.1\nsender_port = 5\nsender_flush_timeout = forever\n",
        "metlog",
    )
    .unwrap_err();
    assert_eq!(
        (err.key(), err.line()),
        (Some("sender_flush_timeout"), Some(5)),
        "{err}"
    );
    let err = config::from_ini_str(
        "[metlog]\nsender_class = udp\nsender_host = 127.0.0.1\nsender_port = 5\nsender_queue_capacity = 0\n",
        "metlog",
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("sender_queue_capacity"), "{err}");

    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = peer.local_addr().unwrap().port();
    let client = config::from_ini_str(
        &format!("[metlog]\nsender_class = udp\nsender_host = 127.0.0.1\nsender_port = {port}\nsender_queue_capacity = 1\n"),
        "metlog",
    )
    .unwrap();
    for _ in 0..10_000 {
        client.incr("burst");
    }
    client.flush();
    let stats = client.stats();
    assert!(
        stats.dropped > 0,
        "a one-message queue drops in a burst: {stats:?}"
    );
    assert_eq!(stats.produced(), 10_000);
}

/// Errors a hostile review found unlocated or misleading: each now names
/// its table (or section) and line, in one sentence.
#[test]
fn config_errors_name_their_table_and_line_in_one_sentence() {
    let toml_err = |text: &str| config::from_toml_str(text).unwrap_err();

    // Plugins, TOML and INI.
    let err = toml_err("logger = \"a\"\n\n[plugins.x]\nprovider = \"nope\"\n");
    assert_eq!(
        (err.section(), err.key(), err.line()),
        (Some("plugins.x"), Some("provider"), Some(4)),
        "{err}"
    );
    // (metlog-cef's plugin binds as `cef` whatever its table is called: a
    // provider of the test's own binds under the table's name.)
    metlog::plugin::register_provider("test.unit", |_| Ok(Box::new(())));
    let err = toml_err("logger = \"a\"\n[plugins.incr]\nprovider = \"test.unit\"\n");
    assert_eq!(
        (err.section(), err.line()),
        (Some("plugins.incr"), Some(2)),
        "{err}"
    );
    let err = toml_err("[plugins.c]\nprovider = \"cef\"\nfoo = 3\n");
    assert_eq!(
        (err.section(), err.line()),
        (Some("plugins.c"), Some(1)),
        "{err}"
    );
    let err = config::from_ini_str(
        "[metlog]\nlogger = a\n\n[metlog_plugin_x]\nprovider = nope\n",
        "metlog",
    )
    .unwrap_err();
    assert_eq!(
        (err.section(), err.line()),
        (Some("metlog_plugin_x"), Some(5)),
        "{err}"
    );

    // A sender that cannot be created, inside the second route.
    let err = toml_err(
        "sender = { class = \"null\" }\n[[routes]]\ntypes = [\"a\"]\nsender = { class = \"null\" }\n\
         [[routes]]\ntypes = [\"counter\"]\nsender = { class = \"file\", filepath = \"/nonexistent-metlog-dir/x.log\" }\n",
    );
    assert_eq!(
        (err.section(), err.line()),
        (Some("routes.sender"), Some(7)),
        "{err}"
    );

    // A missing key: the table's line.
    let err = toml_err("logger = \"a\"\n[sender]\nclass = \"udp\"\nhost = \"127.0.0.1\"\n");
    assert_eq!(
        (err.section(), err.key(), err.line()),
        (Some("sender"), Some("port"), Some(2)),
        "{err}"
    );

    // A misspelt `class` is named, not reported as a missing field.
    let err = toml_err("[sender]\nclasss = \"udp\"\n");
    assert!(err.to_string().contains("classs"), "{err}");
    assert_eq!(err.line(), Some(2), "{err}");

    // A nested table where a value belongs says what is expected.
    let err = toml_err(
        "[[filters]]\nprovider = \"type_severity_max\"\n\n[filters.types]\ncounter = \"loud\"\n",
    );
    let text = err.to_string();
    assert!(
        text.contains("a string, number, boolean or a list of them"),
        "{text}"
    );
    assert!(!text.contains("untagged"), "{text}");

    // A duplicate table: one line, as every ConfigError.
    let err = toml_err("logger = \"a\"\n[sender]\nclass = \"null\"\n[sender]\nclass = \"udp\"\n");
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text:?}");
    assert!(
        text.contains("duplicate") && err.line() == Some(4),
        "{text}"
    );
}

/// `queue_max_bytes`: a network sender's memory ceiling, checked and
/// applied from configuration.
#[test]
fn queue_max_bytes_is_checked_and_applied() {
    let err = config::from_ini_str(
        "[metlog]\nsender_class = udp\nsender_host = 127.0.0.1\nsender_port = 5\nsender_queue_max_bytes = 100\n",
        "metlog",
    )
    .unwrap_err();
    assert_eq!(
        (err.key(), err.line()),
        (Some("sender_queue_max_bytes"), Some(5)),
        "{err}"
    );

    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = peer.local_addr().unwrap().port();
    let client = config::from_toml_str(&format!(
        "[sender]\nclass = \"udp\"\nhost = \"127.0.0.1\"\nport = {port}\nqueue_max_bytes = 65536\n"
    ))
    .unwrap();
    let line = "z".repeat(10_000);
    for i in 0..2_000 {
        client.info(format!("{i} {line}"));
    }
    client.flush();
    let stats = client.stats();
    assert!(
        stats.dropped > 0,
        "20 MB offered to a 64 KiB ceiling: {stats:?}"
    );
    assert_eq!(stats.produced(), 2_000);
}

/// A file of 50,000 sections (the client's, and 49,999 of filters and
/// plugins it does not use) loads in one pass: every section and key is
/// looked up, not searched for (quadratic: 100,000 sections took half a
/// minute in a release build). The bound below is ten times what the
/// linear parser needs in a debug build (0.5 s of CPU), a third of what the
/// quadratic one took (15 s): a guard on the complexity, not a benchmark.
#[test]
fn many_sections_load_in_linear_time() {
    let mut text = String::from(
        "[metlog]\nlogger = big\nsender_class = metlog.senders.dev.DebugCaptureSender\n",
    );
    for i in 0..50_000 {
        text.push_str(&format!("[unused_{i}]\nkey = {i}\nother = x\n"));
    }
    let mut loaded = None;
    let took = support::thread_cpu_time(|| {
        loaded = Some(metlog::config::from_ini_str(&text, "metlog").unwrap());
    });
    assert_eq!(loaded.unwrap().logger(), "big");
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}

/// References that each repeat the one before grow exponentially: ten
/// levels of ten, in 1.3 kB of INI, once ran for minutes and hundreds of
/// megabytes. Now a clear error, at once.
#[test]
fn exponential_interpolation_is_refused_with_a_clear_error() {
    let mut text = String::from("[metlog]\nsender_class = null\nv0 = xxxxxxxxxx\n");
    for level in 1..=10 {
        let previous = format!("%(v{})s", level - 1);
        text.push_str(&format!("v{level} = {}\n", previous.repeat(10)));
    }
    let err = metlog::config::config_from_ini_str(&text, "metlog").unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("interpolation expands beyond 64 KiB"),
        "{shown}"
    );
    assert!(shown.contains("line "), "names the line: {shown}");
}

/// A regular file beyond 16 MiB (a log given by mistake) is refused, not
/// read until memory runs out. (This test read `/dev/zero`, which is now
/// refused before any reading as no regular file: see below.)
#[test]
fn a_file_beyond_the_size_limit_is_refused() {
    let dir = std::env::temp_dir().join(format!("metlog-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.ini");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(17 * 1024 * 1024).unwrap(); // sparse: no disk used
    let err = metlog::config::from_ini_file(&path, "metlog").unwrap_err();
    assert!(err.to_string().contains("MAX_CONFIG_FILE"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `f()` on a thread of its own, waited for up to a minute: a loader that
/// blocks (a FIFO with no writer) fails the test instead of hanging it.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the loader did not return within a minute")
}

/// A FIFO (it blocked for ever, waiting for a writer), a directory and a
/// device are refused at once, saying what they are.
#[test]
fn a_path_that_is_no_regular_file_is_refused_at_once() {
    let dir = std::env::temp_dir().join(format!("metlog-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("config.ini");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", fifo.display());
    let cases = [
        (fifo.clone(), "a FIFO, socket or device, not a regular file"),
        (dir.clone(), "a directory, not a regular file"),
        (
            "/dev/zero".into(),
            "a FIFO, socket or device, not a regular file",
        ),
    ];
    for (path, expected) in cases {
        let shown = path.display().to_string();
        for toml in [false, true] {
            let path = path.clone();
            let err = within_a_minute(move || {
                let loaded = if toml {
                    config::from_toml_file(&path)
                } else {
                    config::from_ini_file(&path, "metlog")
                };
                loaded.map(drop).unwrap_err().to_string()
            });
            assert_eq!(err, format!("{shown}: cannot read: {expected}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[DEFAULT]` keys × sections was quadratic (4,000 × 4,000, a 70 KB
/// file: 23 s, 16 million entries): `[DEFAULT]` is now looked up, never
/// copied into each section (the parser's unit test checks the structure);
/// here the whole load, bounded only against a hang.
#[test]
fn many_default_keys_times_many_sections_load() {
    let mut text = String::from("[DEFAULT]\n");
    for i in 0..4000 {
        text.push_str(&format!("k{i} = {i}\n"));
    }
    text.push_str("[metlog]\nlogger = %(k3999)s\nsender_class = null\n");
    for i in 0..4000 {
        text.push_str(&format!(
            "[metlog_filter_{i}]\nprovider = severity_max\nseverity = 7\n"
        ));
    }
    let (logger, filters) = within_a_minute(move || {
        let config = config::config_from_ini_str(&text, "metlog").unwrap();
        (config.logger, config.filters.len())
    });
    assert_eq!((logger.as_str(), filters), ("3999", 4000));
}

/// `${VAR}` replacement is bounded at 64 KiB a value: a 100 KB variable
/// (or a small one repeated) was copied in whole, once per use (500 MB).
#[test]
fn a_huge_environment_expansion_is_refused() {
    let big = "x".repeat(100_000);
    support::in_own_process(
        &support::test_name!(a_huge_environment_expansion_is_refused),
        &[
            ("METLOG_TEST_BIG", &big),
            ("METLOG_TEST_SMALL", "0123456789"),
        ],
        || {
            let err = config::from_ini_str(
                "[metlog]\nsender_class = null\nlogger = ${METLOG_TEST_BIG}\n",
                "metlog",
            )
            .unwrap_err();
            assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
            assert_eq!(
                err.to_string(),
                "[metlog] line 3: logger: ${METLOG_TEST_BIG} makes the value longer than 64 \
                 KiB, the bound on an option's value"
            );
            let repeated = "${METLOG_TEST_SMALL}".repeat(7000);
            let text = format!("[metlog]\nsender_class = null\nlogger = {repeated}\n");
            let err = config::from_ini_str(&text, "metlog").unwrap_err();
            assert!(err.to_string().contains("longer than 64 KiB"), "{err}");
            let client = config::from_ini_str(
                "[metlog]\nsender_class = null\nlogger = ${METLOG_TEST_SMALL}x\n",
                "metlog",
            )
            .unwrap();
            assert_eq!(client.logger(), "0123456789x");
        },
    );
}

/// Configuration text indented as a whole, as metlog-py's own tests write it
/// inside Python strings, loads (metlog-py's `client_from_text_config`
/// dedents it); a line indented more than the option before it is said to
/// be read as that option's continuation (it was "sender_class: expected a
/// class name").
#[test]
fn indented_text_loads_and_a_stray_indent_is_named() {
    let text = "
        [metlog_config]
        logger = indented
        sender_class = metlog.senders.UdpSender
        sender_host = 127.0.0.1
                      127.0.0.2
        sender_port = 5565
        ";
    let client = metlog::config::from_ini_str(text, "metlog_config").unwrap();
    assert_eq!(client.logger(), "indented");

    let text = "[metlog]\nlogger = x\nsender_class = metlog.senders.DebugCaptureSender\n  sender_host = 127.0.0.1\n";
    let err = metlog::config::from_ini_str(text, "metlog")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 4"), "{err}");
    assert!(
        err.contains("would continue that option's value (`sender_class`, line 3)"),
        "{err}"
    );
}

/// An option metlog does not know is an error in every section and every
/// loader (issue 22: `sender_hots` only warned, and the service sent to the
/// default host), naming the section, the line and the nearest known
/// option; `[DEFAULT]` keys still serve interpolation without being taken
/// for the section's own (it was "here: unknown option", at the wrong line).
#[test]
fn unknown_options_are_errors_in_every_section_naming_the_nearest() {
    let cases: &[(&str, &str)] = &[
        (
            "[metlog]\nsender_class = udp\nsender_hots = 10.0.0.1\n",
            "[metlog] line 3: sender_hots: unknown option for the udp sender (expected host, \
             port, queue_capacity, queue_max_bytes, flush_timeout); did you mean `sender_host`?",
        ),
        // A client option in `[DEFAULT]` is the client's (as configparser
        // makes it), checked as its own, and placed where it is written.
        (
            "[DEFAULT]\nsender_hots = 10.0.0.1\n[metlog]\nsender_class = udp\n",
            "[DEFAULT] line 2: sender_hots: unknown option for the udp sender (expected host, \
             port, queue_capacity, queue_max_bytes, flush_timeout); did you mean `sender_host`?",
        ),
        (
            "[metlog]\nloger = app\nsender_class = null\n",
            "[metlog] line 2: loger: unknown option (expected logger, severity, \
             disabled_timers, sender_*, global_*); did you mean `logger`?",
        ),
        (
            "[metlog]\nsender_class = null\nfrobnicate = 1\n",
            "[metlog] line 3: frobnicate: unknown option (expected logger, severity, \
             disabled_timers, sender_*, global_*)",
        ),
        (
            "[metlog]\nsender_class = null\n[metlog_route_m]\ntypes = counter\nclass = udp\n\
             hots = 127.0.0.1\n",
            "[metlog_route_m] line 6: hots: unknown option for the udp sender (expected host, \
             port, queue_capacity, queue_max_bytes, flush_timeout); did you mean `host`?",
        ),
        (
            "[metlog]\nsender_class = null\n[metlog_filter_s]\nprovider = severity_max\n\
             severty = 4\n",
            "[metlog_filter_s] line 5: severty: unknown option for the severity_max filter \
             (expected severity); did you mean `severity`?",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("metlog-unknown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.ini");
    for (text, expected) in cases {
        for strict in [false, true] {
            let load = if strict {
                config::from_ini_str_strict
            } else {
                config::from_ini_str
            };
            let err = load(text, "metlog").unwrap_err();
            assert_eq!(err.kind(), ConfigErrorKind::UnknownKey, "{text:?}: {err}");
            assert_eq!(err.to_string(), *expected, "strict {strict}");
        }
        std::fs::write(&path, text).unwrap();
        for load in [config::from_ini_file, config::from_ini_file_strict] {
            let err = load(&path, "metlog").unwrap_err();
            assert_eq!(err.to_string(), format!("{}: {expected}", path.display()));
        }
    }

    // `%(here)s` from [DEFAULT], in a section of its own; `here` is no
    // unknown option of any section.
    let text = format!(
        "[DEFAULT]\nhere = {}\n\n[metlog]\nlogger = lenient\nsender_class = metlog.senders.UdpSender\nsender_host = 127.0.0.1\nsender_port = 5565\n\n[metlog_filter_sev]\nprovider = metlog.filters.severity_max_provider\nseverity = 6\n\n[metlog_file]\nsender_class = metlog.senders.dev.FileSender\nsender_filepath = %(here)s/out.log\n",
        dir.display()
    );
    let client = config::from_ini_str_strict(&text, "metlog").unwrap();
    assert_eq!(client.logger(), "lenient");
    let file = config::from_ini_str_strict(&text, "metlog_file").unwrap();
    file.info("to the file");
    file.flush();
    let written = std::fs::read_to_string(dir.join("out.log")).unwrap();
    assert!(written.contains("to the file"), "{written}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// As metlog-py, which only asks whether `timeit` or `incr_count` is in
/// `global_disabled_decorators`: names that are no decorator's are left out
/// and reported once, and the known ones still apply (the loader refused
/// the whole file, so metlog-py's configurations with such a name did not
/// load at all).
#[test]
fn unknown_disabled_decorator_names_are_ignored_and_reported_as_metlog_py_does() {
    // Switches decorators off, process-wide: the other tests' annotated
    // functions would stop reporting.
    support::in_own_process(
        &support::test_name!(
            unknown_disabled_decorator_names_are_ignored_and_reported_as_metlog_py_does
        ),
        &[],
        || {
            support::collect_reports();
            let text = "[metlog]\nlogger = decorated\nsender_class = metlog.senders.DebugCaptureSender\nglobal_disabled_decorators = timeit\n    memoize_typo\n    incr_cuont\n";
            let client = config::from_ini_str(text, "metlog").unwrap();
            assert_eq!(client.logger(), "decorated");
            assert!(!metlog::is_decorator_enabled(metlog::Decorator::Timer));
            assert!(metlog::is_decorator_enabled(metlog::Decorator::Incr));
            let reports: Vec<String> = support::reports()
                .into_iter()
                .filter(|r| r.contains("memoize_typo"))
                .collect();
            assert_eq!(reports.len(), 1, "reported once: {reports:?}");
            let report = &reports[0];
            assert!(report.contains("ignored option(s)"), "{report}");
            assert!(
            report.contains(
                "[metlog] line 4: global_disabled_decorators name(s) \"memoize_typo\", \"incr_cuont\" \
             (known: timeit, incr_count, timer, incr)"
            ),
            "{report}"
        );
            // What was applied is what the configuration keeps.
            assert_eq!(
                config::config_from_ini_str(text, "metlog").unwrap().global["disabled_decorators"],
                ConfigValue::List(vec![s("timeit")])
            );

            // One line, as metlog-py's docs write it: the known name applies.
            config::from_ini_str(
            "[metlog]\nsender_class = null\nglobal_disabled_decorators = incr_count memoize_typo\n",
            "metlog",
        )
        .unwrap();
            assert!(metlog::is_decorator_enabled(metlog::Decorator::Timer));
            assert!(!metlog::is_decorator_enabled(metlog::Decorator::Incr));
            metlog::set_disabled_decorators(Vec::<&str>::new()).unwrap();
        },
    );
}

/// The strict loader (and TOML, and `Config`) refuse a name that is no
/// decorator's, naming every such name and the known ones; nothing is
/// applied.
#[test]
fn strict_loading_refuses_unknown_disabled_decorator_names() {
    let text = "[metlog]\nsender_class = null\nglobal_disabled_decorators = timeitt\n    incr\n    memoize\n";
    let err = config::from_ini_str_strict(text, "metlog").unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::InvalidValue, "{err}");
    assert_eq!(
        (err.section(), err.key(), err.line()),
        (Some("metlog"), Some("global_disabled_decorators"), Some(3)),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "[metlog] line 3: global_disabled_decorators: unknown decorator name(s) \"timeitt\", \
         \"memoize\" (known: timeit, incr_count, timer, incr)"
    );

    let err = config::from_toml_str(
        "sender = { class = \"null\" }\n\n[global]\ndisabled_decorators = [\"timeitt\", \"incr\", \"memoize\"]\n",
    )
    .unwrap_err();
    assert_eq!(err.line(), Some(4), "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("\"timeitt\", \"memoize\" (known: timeit, incr_count"),
        "{shown}"
    );
}

/// metlog-py's dict forms (`client_from_dict_config`): a top-level
/// `sender_class` (and `sender_<option>`, `global_<option>`), filters and
/// plugins as `(provider, options)` pairs — taken as metlog-py takes them.
#[test]
fn metlog_py_dict_forms_are_accepted() {
    register_plugins();
    let config: config::Config = serde_json::from_value(serde_json::json!({
        "logger": "addons",
        "sender_class": "capture",
        "sender_capacity": 5,
        "global_disabled_decorators": [],
        "filters": [["metlog.filters.type_blacklist_provider", {"types": ["timer"]}]],
        "plugins": {"dummy": ["metlog.tests.plugin:config_plugin", {"override": true, "foo": "bar"}]}
    }))
    .unwrap();
    assert_eq!(config.sender.class, "capture");
    assert_eq!(
        config.plugins["dummy"].options["foo"],
        ConfigValue::Str("bar".into())
    );
    assert!(config.plugins["dummy"].override_);
    let client = config.build().unwrap();
    let capture = client.sender_as::<metlog::sender::CaptureSender>().unwrap();
    assert_eq!(capture.capacity(), 5);
    client.incr("kept");
    drop(client.timer("filtered"));
    assert_eq!(capture.len(), 1);
    // A key that is neither a field nor prefixed is still refused.
    let err = serde_json::from_value::<config::Config>(serde_json::json!({"sendr_class": "x"}))
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown field `sendr_class`"),
        "{err}"
    );
}
