//! The panic and process-statistics plugins bound from configuration
//! sections. Own process: it installs the panic hook.

use crate::support;
use metlog::sender::CaptureSender;

#[test]
fn panic_and_process_plugins_from_config_sections() {
    support::in_own_process(
        &support::test_name!(panic_and_process_plugins_from_config_sections),
        &[],
        || {
            let client = metlog::config::from_ini_str(
                "[metlog]
logger = svc
sender_class = capture
[metlog_plugin_crash]
provider = panics
flush_timeout = 1
[metlog_plugin_stats]
provider = process
interval = 0.05
",
                "metlog",
            )
            .unwrap();
            let capture = client.sender_as::<CaptureSender>().unwrap();
            let _ = std::thread::spawn(|| panic!("configured hook")).join();
            // The panic's report and ten gauges, however busy the machine
            // (this slept 200 ms once); then exactly one panic.
            support::wait_until("the panic's report and ten gauges", || {
                let msgs = capture.messages();
                msgs.iter().any(|m| m.kind == "panic")
                    && msgs.iter().filter(|m| m.kind == "gauge").count() >= 10
            });
            let msgs = capture.messages();
            let panics: Vec<_> = msgs.iter().filter(|m| m.kind == "panic").collect();
            assert_eq!(panics.len(), 1);
            assert_eq!(panics[0].payload, "configured hook");
            let gauges = msgs.iter().filter(|m| m.kind == "gauge").count();
            assert!(gauges >= 10, "periodic reports under svc.process: {gauges}");
            assert!(msgs
                .iter()
                .filter(|m| m.kind == "gauge")
                .all(|m| m.logger == "svc.process"));

            let err = metlog::config::from_ini_str(
            "[metlog]\nsender_class = capture\n[metlog_plugin_stats]\nprovider = process\nintervall = 1\n",
            "metlog",
        )
        .unwrap_err();
            assert!(
                err.to_string().contains("unknown option `intervall`"),
                "{err}"
            );
        },
    );
}

/// metlog-psutils' INI examples (`provider =
/// metlog_psutils.psutil_plugin:config_plugin`) load as the process plugin,
/// which reports gauges; its documentation's `net = …` (a `procinfo()`
/// argument, refused by metlog-psutils' own `config_plugin` too) is refused,
/// saying why.
#[test]
fn metlog_psutils_examples_load_as_the_process_plugin() {
    support::in_own_process(
        &support::test_name!(metlog_psutils_examples_load_as_the_process_plugin),
        &[],
        || {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/metlog-psutils-ini");
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".ini"))
                .collect();
            names.sort();
            assert_eq!(names.len(), 7);
            for name in &names {
                let loaded = metlog::config::from_ini_file(dir.join(name), "metlog");
                if name.contains("net_") {
                    let err = loaded.unwrap_err().to_string();
                    assert!(
                        err.contains("option `net` is metlog-psutils' `procinfo(net=…)` argument"),
                        "{name}: {err}"
                    );
                    continue;
                }
                let client = loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
                let capture = client.sender_as::<CaptureSender>().unwrap();
                support::wait_until("the process plugin's gauges", || {
                    capture.messages().iter().any(|m| m.kind == "gauge")
                });
            }
        },
    );
}
