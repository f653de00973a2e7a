//! CEF lines, process statistics and the tracing layer.

use crate::support;

use metlog::plugin::cef::{self, Cef, CefContext};
use metlog::sender::CaptureSender;
use metlog::Client;

fn capture_client() -> (Client, CaptureSender) {
    let capture = CaptureSender::new();
    (
        Client::builder("svc").sender(capture.clone()).build(),
        capture,
    )
}

/// The line after its date: `HOST CEF:0|…`.
fn after_date(line: &str) -> &str {
    // `Jan 18 19:58:24 `: three words.
    line.splitn(4, ' ').nth(3).unwrap()
}

#[test]
fn cef_lines_follow_the_specification_byte_for_byte() {
    let device = Cef {
        vendor: "Moz|illa".into(),
        product: Some("Acc\\ounts".into()),
        version: "1.0".into(),
        host: Some("web 1".into()),
        ..Cef::default()
    };
    let context = CefContext::new()
        .source_address("10.0.0.1")
        .user("ümlaut ☃")
        .signature("sig|1");
    let line = cef::format(
        &device,
        "Acc\\ounts",
        "name\nwith break",
        12,
        &context,
        &[
            ("msg", "a=b\\c\nd\re|f"),
            ("bad key!", "v"),
            ("src", "6.6.6.6"),
            ("!!!", "dropped: no usable key"),
        ],
    );
    assert_eq!(
        after_date(&line),
        "web_1 CEF:0|Moz\\|illa|Acc\\\\ounts|1.0|sig\\|1|name with break|10|\
         cs1Label=requestClientApplication cs1=none requestMethod= request= src=10.0.0.1 \
         dhost=none suser=ümlaut ☃ badkey=v msg=a\\=b\\\\c\\nd\\re|f"
    );
}

#[test]
fn hostile_values_cannot_forge_extensions_or_header_fields() {
    let context = CefContext::new()
        .user("eve act=allow src=1.2.3.4")
        .request("GET", "/x\nCEF:0|forged|");
    let line = cef::format(&Cef::default(), "app", "n", 5, &context, &[]);
    // Unescaped `=` only after real keys: split on spaces preceded by a key.
    let ext = line.splitn(8, '|').nth(7).unwrap();
    let keys: Vec<&str> = ext
        .split(' ')
        .filter_map(|part| {
            let bytes = part.as_bytes();
            let eq = part.find('=')?;
            (eq == 0 || bytes[eq - 1] != b'\\').then(|| &part[..eq])
        })
        .collect();
    assert_eq!(
        keys,
        [
            "cs1Label",
            "cs1",
            "requestMethod",
            "request",
            "src",
            "dhost",
            "suser"
        ],
        "{line}"
    );
    // One record: the value's line break is escaped, so its "CEF:0|…"
    // text stays inside the `request` value.
    assert!(!line.contains('\n') && !line.contains('\r'));
    assert!(line.contains(" request=/x\\nCEF:0|forged| "), "{line}");
}

/// metlog-cef's limit: the line stops before the first extension (in its
/// order: shortest value first) that would take it past 1,024 bytes.
#[test]
fn extensions_beyond_the_line_limit_are_left_out_and_reported() {
    // CEF's "left out" reports are made once per process for each kind:
    // another test's CEF line could have used this one up.
    support::in_own_process(
        &support::test_name!(extensions_beyond_the_line_limit_are_left_out_and_reported),
        &[],
        || {
            support::collect_reports();
            let (client, _capture) = capture_client();
            let big = "b".repeat(700);
            let bigger = "c".repeat(800);
            let line = client
                .cef(
                    "limits",
                    5,
                    &CefContext::new(),
                    [
                        ("zz", bigger.as_str()),
                        ("small", "1"),
                        ("aa", big.as_str()),
                    ],
                )
                .unwrap();
            assert!(line.len() <= 1_024, "{}", line.len());
            assert!(line.ends_with(&format!(" small=1 aa={big}")), "{line}");
            let reports = support::reports();
            assert!(
                reports
                    .iter()
                    .any(|r| r.contains("[\"zz\"] left out") && r.contains("1024 bytes")),
                "{reports:?}"
            );
        },
    );
}

/// metlog-py binds a plugin under its provider's `metlog_name`: metlog-cef's
/// is `cef`, whatever the section is called. A `[metlog_plugin_security]`
/// once bound `security`, and `client.cef` went on with the default device.
#[test]
fn the_cef_plugin_binds_as_cef_whatever_its_section_is_called() {
    let client = metlog::config::from_ini_str(
        "[metlog]\nlogger = accounts\nsender_class = capture\n[metlog_plugin_security]\nprovider = metlog_cef.cef_plugin:config_plugin\nvendor = Mozilla\nversion = 2\n",
        "metlog",
    )
    .unwrap();
    let line = client
        .cef("LoginFailed", 5, &CefContext::new(), [])
        .unwrap();
    assert!(line.contains(" CEF:0|Mozilla|accounts|2|"), "{line}");
}

#[test]
fn client_cef_sends_a_cef_message_with_the_configured_device() {
    let client = metlog::config::from_ini_str(
        "[metlog]\nlogger = accounts\nsender_class = capture\n[metlog_plugin_cef]\nprovider = metlog_cef.cef_plugin:config_plugin\nvendor = Mozilla\nversion = 2\nhost = web1\n",
        "metlog",
    )
    .unwrap();
    let context = CefContext::new()
        .source_address("192.0.2.1")
        .user("ada")
        .request("POST", "/login")
        .host("accounts.example")
        .user_agent("curl/8");
    let line = client
        .cef("LoginFailed", 5, &context, [("reason", "bad password")])
        .unwrap();
    assert_eq!(
        after_date(&line),
        "web1 CEF:0|Mozilla|accounts|2|LoginFailed|LoginFailed|5|cs1Label=requestClientApplication \
         cs1=curl/8 requestMethod=POST request=/login src=192.0.2.1 dhost=accounts.example \
         suser=ada reason=bad password"
    );
    let capture = client.sender_as::<CaptureSender>().unwrap();
    let msg = &capture.messages()[0];
    assert_eq!(msg.kind, "cef");
    assert_eq!(msg.payload, line.as_str());
    // As metlog-cef 0.2: the only field is `cef_meta`, the syslog settings
    // the router's CEF output reads (it failed on a message without them).
    let fields = msg.to_json_value()["fields"].clone();
    assert_eq!(
        fields,
        serde_json::json!({"cef_meta": {"syslog_options": null, "syslog_facility": null,
            "syslog_ident": null, "syslog_priority": null}})
    );
    // Configured, as metlog-cef's options.
    let client = metlog::config::from_ini_str(
        "[metlog]\nsender_class = capture\n[metlog_plugin_cef]\nprovider = metlog_cef.cef_plugin:config_plugin\nsyslog_options = PID,NDELAY\nsyslog_facility = KERN\nsyslog_ident = some_identifier\nsyslog_priority = EMERG\n",
        "metlog",
    )
    .unwrap();
    client.cef("E", 5, &CefContext::new(), []).unwrap();
    let capture = client.sender_as::<CaptureSender>().unwrap();
    assert_eq!(
        capture.messages()[0].to_json_value()["fields"],
        serde_json::json!({"cef_meta": {"syslog_options": "PID,NDELAY", "syslog_facility": "KERN",
            "syslog_ident": "some_identifier", "syslog_priority": "EMERG"}})
    );
}

#[cfg(target_os = "linux")]
#[test]
fn process_statistics_are_present_and_plausible() {
    let stats: std::collections::BTreeMap<&str, f64> =
        metlog::plugin::process::collect().into_iter().collect();
    for key in [
        "cpu_user_seconds",
        "cpu_system_seconds",
        "rss_bytes",
        "threads",
        "open_fds",
    ] {
        assert!(stats.contains_key(key), "{key} missing from {stats:?}");
    }
    assert!(
        stats["rss_bytes"] > 1_000_000.0 && stats["rss_bytes"] < 10e9,
        "{stats:?}"
    );
    assert!(stats["threads"] >= 1.0);
    assert!(stats["open_fds"] >= 3.0);
    assert!(stats["cpu_user_seconds"] >= 0.0 && stats["cpu_user_seconds"] < 1e6);

    let (client, capture) = capture_client();
    let sent = metlog::plugin::process::send(&client, "svc.process");
    let msgs = capture.messages();
    assert_eq!(msgs.len(), sent);
    // The same messages through a real statsd sender, read back.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let statsd = metlog::sender::StatsdSender::new(socket.local_addr().unwrap()).unwrap();
    for msg in &msgs {
        metlog::sender::Sender::send(&statsd, msg.clone().into()).unwrap();
    }
    metlog::sender::Sender::flush(&statsd).unwrap();
    let mut lines = Vec::new();
    while lines.len() < msgs.len() {
        let mut buf = vec![0; 70_000];
        let n = socket.recv(&mut buf).expect("a datagram within 10 s");
        lines.extend(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_owned),
        );
    }
    let host = metlog::Message::new("x", "y").hostname.replace('.', "_");
    for msg in &msgs {
        assert_eq!(msg.kind, "gauge");
        assert_eq!(msg.logger, "svc.process");
        let name = msg.fields["name"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("{host}.{}.", std::process::id())),
            "{name}"
        );
    }
    // The statsd sender turns each into a gauge line.
    for line in &lines {
        assert!(
            line.starts_with("svc.process.") && line.ends_with("|g"),
            "{line}"
        );
    }

    // Periodic reports stop with the handle.
    let (client, capture) = capture_client();
    let interval = std::time::Duration::from_millis(20);
    let reporter = metlog::plugin::process::spawn(client, "p", interval);
    // Several reports (this slept 100 ms once, too short on a busy machine).
    support::wait_until("two periodic reports", || capture.len() >= 2 * sent);
    drop(reporter);
    let after_stop = capture.len();
    assert!(after_stop >= 2 * sent, "several reports: {after_stop}");
    // Reports that went on would show within a few intervals. (Passing does
    // not depend on this wait: the handle's drop stops them.)
    std::thread::sleep(interval * 5);
    assert_eq!(
        capture.len(),
        after_stop,
        "no report after the handle is dropped"
    );
}

#[test]
fn tracing_events_and_spans_become_messages() {
    use tracing_subscriber::prelude::*;
    let (client, capture) = capture_client();
    let layer = metlog::bridge::tracing::MetlogLayer::new(client).with_span_timers(true);
    // (DEBUG is asked for: the default level is INFO.)
    let layer = layer.with_level(tracing::level_filters::LevelFilter::DEBUG);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("checkout", order = 7);
        let _entered = span.enter();
        tracing::error!(code = 502, retry = true, ratio = 0.5, "upstream failed");
        tracing::debug!(detail = ?vec![1, 2], "debug with a Debug field");
    });
    let msgs = capture.messages();
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    assert_eq!(msgs[0].kind, "oldstyle");
    assert_eq!(msgs[0].severity.as_u8(), 3);
    assert_eq!(msgs[0].payload, "upstream failed");
    assert_eq!(msgs[0].fields["code"], 502);
    assert_eq!(msgs[0].fields["retry"], true);
    assert_eq!(msgs[0].fields["ratio"], 0.5);
    assert_eq!(msgs[0].fields["target"], "integration::plugins");
    assert_eq!(msgs[1].severity.as_u8(), 7);
    assert_eq!(msgs[1].fields["detail"], "[1, 2]");
    assert_eq!(msgs[2].kind, "timer");
    assert_eq!(msgs[2].fields["name"], "checkout");
}

/// The layer takes INFO and above by default (axum's DEBUG "connection
/// accepted" reached the router), DEBUG when asked; its level is its own:
/// a layer beside it still gets DEBUG.
#[test]
fn tracing_layer_drops_debug_by_default_and_keeps_it_when_asked() {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::Layer;
    let (client, capture) = capture_client();
    let layer = metlog::bridge::tracing::MetlogLayer::new(client.clone()).with_span_timers(true);
    // A second layer that counts the DEBUG events it gets.
    struct CountDebug(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl<S: tracing::Subscriber> Layer<S> for CountDebug {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if *event.metadata().level() == tracing::Level::DEBUG {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let other = CountDebug(seen.clone());
    let subscriber = tracing_subscriber::registry().with(layer).with(other);
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::debug_span!("debug_span").entered();
        tracing::debug!("connection accepted");
        tracing::info!("request served");
    });
    let msgs = capture.messages();
    let payloads: Vec<&str> = msgs.iter().map(|m| m.payload.as_str()).collect();
    assert_eq!(payloads, ["request served"], "{msgs:#?}");
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the other layer got DEBUG"
    );

    let (client, capture) = capture_client();
    let layer = metlog::bridge::tracing::MetlogLayer::new(client).with_level(LevelFilter::DEBUG);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("connection accepted");
        tracing::trace!("too fine");
    });
    let msgs = capture.messages();
    let payloads: Vec<&str> = msgs.iter().map(|m| m.payload.as_str()).collect();
    assert_eq!(payloads, ["connection accepted"], "{msgs:#?}");
    assert_eq!(msgs[0].severity.as_u8(), 7);
}

/// An event's own field named `target` is kept (the event's target once
/// replaced it), and a `message` of any type is the payload (a number once
/// left it empty).
#[test]
fn tracing_fields_named_target_or_message_keep_their_values() {
    use tracing_subscriber::prelude::*;
    let (client, capture) = capture_client();
    let layer = metlog::bridge::tracing::MetlogLayer::new(client);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target = "user-target", "with a target field");
        tracing::info!(message = 42, extra = 1);
        tracing::warn!(message = true);
    });
    let msgs = capture.messages();
    assert_eq!(msgs[0].fields["target"], "user-target");
    assert_eq!(msgs[0].payload, "with a target field");
    assert_eq!(msgs[1].payload, "42");
    assert!(
        msgs[1].fields.get("message").is_none(),
        "{:?}",
        msgs[1].fields
    );
    assert_eq!(msgs[1].fields["target"], "integration::plugins");
    assert_eq!(msgs[2].payload, "true");
}

/// Extension keys that clean up to a standard one (`s r c` next to the
/// context's `src`), to one already written, or to nothing (`!!`), are left
/// out and reported — they once forged the event's source and user; keys
/// metlog-cef allows (`s-r-c`, `s.user`, `--`: letters, digits, `_-.`) are
/// written as given; a context setter called twice writes its key once.
#[test]
fn extension_keys_cannot_collide_or_vanish_silently() {
    // CEF's "left out" reports are made once per process for each kind:
    // another test's CEF line could have used this one up.
    support::in_own_process(
        &support::test_name!(extension_keys_cannot_collide_or_vanish_silently),
        &[],
        || {
            support::collect_reports();
            let capture = metlog::sender::CaptureSender::new();
            let client = metlog::Client::builder("app")
                .sender(capture.clone())
                .build();
            let context = CefContext::new()
                .source_address("10.0.0.1")
                .user("ada")
                .user("bob");
            let line = client
                .cef(
                    "login",
                    5,
                    &context,
                    [
                        ("s-r-c", "6.6.6.6"),
                        ("s.user", "root"),
                        ("--", "x"),
                        ("cs1", "forged"),
                        ("s r c", "6.6.6.6"),
                        ("s.user", "again"),
                        ("!!", "y"),
                        // A key that had to be cleaned never displaces one given
                        // as it is (metlog-cef wrote both).
                        ("a b", "cleaned"),
                        ("ab", "as-given"),
                    ],
                )
                .unwrap();
            let ext = line.splitn(8, '|').nth(7).unwrap();
            assert_eq!(
                ext,
                "cs1Label=requestClientApplication cs1=none requestMethod= request= src=10.0.0.1 \
         dhost=none suser=bob --=x s.user=root s-r-c=6.6.6.6 ab=as-given",
                "{line}"
            );
            let reports = support::reports();
            let report = reports
                .iter()
                .find(|r| r.contains("left out"))
                .unwrap_or_else(|| panic!("{reports:?}"));
            for key in ["cs1", "s r c", "s.user", "!!", "a b"] {
                assert!(report.contains(&format!("{key:?}")), "{report}");
            }
        },
    );
}

/// metlog-cef's order and limit cost the caller n log n, not n²: 100,000
/// extensions (an attacker's request parameters) are formatted at once.
#[test]
fn many_extensions_cost_linear_time_not_quadratic() {
    let owned: Vec<(String, String)> = (0..100_000)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    let pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut line = String::new();
    let took = support::thread_cpu_time(|| {
        line = cef::format(&Cef::default(), "p", "n", 5, &CefContext::new(), &pairs);
    });
    assert!(line.len() <= 1_024);
    // Quadratic: 5·10⁹ key comparisons, minutes in a debug build.
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}
