//! The INI and TOML loaders take arbitrary input without panicking
//! (bounded property tests; run longer with PROPTEST_CASES=100000).

use proptest::prelude::*;

use crate::support;

/// INI-ish text: section headers, keys, values, continuations, junk.
fn ini_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[metlog]".to_owned()),
        Just("[metlog_filter_x]".to_owned()),
        Just("[metlog_plugin_p]".to_owned()),
        Just("[metlog_route_r]".to_owned()),
        Just("[DEFAULT]".to_owned()),
        "[a-z_]{1,12} ?[=:] ?[ -~]{0,20}",
        "(sender_class|sender_capacity|severity|logger|provider|types|global_disabled_decorators|disabled_timers) = [ -~]{0,16}",
        "  [ -~]{0,16}",
        "[#;][ -~]{0,10}",
        "%\\([a-z]{1,4}\\)s",
        "\\$\\{[A-Z_]{0,6}\\}",
        "\\PC{0,30}",
    ];
    prop::collection::vec(line, 0..20).prop_map(|lines| lines.join("\n"))
}

/// Builds what it loads, and a `global_disabled_decorators` it builds
/// switches decorators process-wide (a random line may name one): in a
/// process of its own, where no other test's annotated functions run.
#[test]
fn ini_loader_never_panics() {
    support::in_own_process(&support::test_name!(ini_loader_never_panics), &[], || {
        proptest!(support::proptest_config(), |(text in ini_like())| {
            if let Ok(config) = metlog::config::config_from_ini_str(&text, "metlog") {
                // Build only what touches nothing outside the process.
                if matches!(config.sender.class.as_str(), "capture" | "null") && config.routes.is_empty() {
                    let _ = config.build();
                }
            }
        });
    });
}

proptest! {
    #![proptest_config(support::proptest_config())]

    /// Network senders built from hostile host and port values: a
    /// `ConfigError`, never a panic (an empty `sender_host` with the TCP
    /// class once panicked in `Vec::remove`). Hosts stay on this machine.
    #[test]
    fn network_sender_values_never_panic(
        class in prop_oneof![Just("udp"), Just("tcp"), Just("statsd"), Just("syslog"),
                             Just("metlog.senders.UdpSender"), Just("metlog.senders.TcpSender")],
        host in prop_oneof![Just(""), Just(" "), Just(","), Just(" , "), Just("127.0.0.1"),
                            Just("127.0.0.1,"), Just(", 127.0.0.1"), Just("::1"), Just("[::1]"),
                            Just("127.0.0.1 127.0.0.2")],
        port in prop_oneof![Just(""), Just(" "), Just(","), Just("x"), Just("-1"), Just("0"),
                            Just("5565"), Just("70000"), Just("1 2"), Just("1,"), Just(", ,")],
        with_host in any::<bool>(),
    ) {
        let host_line = if with_host { format!("sender_host = {host}\n") } else { String::new() };
        let text = format!("[metlog]\nsender_class = {class}\n{host_line}sender_port = {port}\n");
        let built = std::panic::catch_unwind(|| {
            metlog::config::config_from_ini_str(&text, "metlog").and_then(|c| c.build())
        });
        prop_assert!(built.is_ok(), "panicked on:\n{}", text);
    }

    #[test]
    fn ini_loader_takes_any_bytes(text in "\\PC{0,200}") {
        let _ = metlog::config::config_from_ini_str(&text, "metlog");
    }

    #[test]
    fn toml_loader_never_panics(text in "\\PC{0,200}") {
        let _ = metlog::config::config_from_toml_str(&text);
    }

    #[test]
    fn toml_loader_on_toml_like_input(
        logger in "[ -~]{0,10}",
        severity in prop_oneof![Just("6".to_owned()), Just("\"warn\"".to_owned()), "-?[0-9]{1,3}", "\"[a-z]{0,6}\""],
        class in prop_oneof![Just("capture"), Just("null"), Just("udp"), Just("nope")],
    ) {
        let text = format!("logger = {logger:?}\nseverity = {severity}\n[sender]\nclass = \"{class}\"\n");
        if let Ok(config) = metlog::config::config_from_toml_str(&text) {
            if matches!(config.sender.class.as_str(), "capture" | "null") {
                prop_assert!(config.build().is_ok());
            }
        }
    }
}
