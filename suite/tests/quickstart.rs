//! `cargo run --example quickstart` prints valid metlog JSON lines.

mod support;

use std::process::Command;

use metlog::Message;
use support::example;

#[test]
fn quickstart_prints_valid_metlog_json_lines() {
    let out = Command::new(example("quickstart"))
        .env_remove("METLOG_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let messages: Vec<Message> = stdout
        .lines()
        .map(|line| Message::from_json(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let kinds: Vec<&str> = messages.iter().map(|m| &*m.kind).collect();
    assert_eq!(
        kinds,
        [
            "counter", "oldstyle", "timer", // ada
            "counter", "oldstyle", "timer", // grace
            "counter", "oldstyle", "timer", // linus: exception
            "timer", "deploy",
        ]
    );
    assert!(messages.iter().all(|m| m.logger == "quickstart"));
    assert_eq!(messages[7].severity, metlog::Severity::Alert);
    // Every line carries exactly the nine envelope keys.
    for line in stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 9, "{line}");
    }
}

#[test]
fn quickstart_follows_a_config_file_from_the_argument_or_metlog_config() {
    let dir = std::env::temp_dir().join(format!("metlog-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ini = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.ini");
    for (i, by_env) in [false, true].into_iter().enumerate() {
        let log = dir.join(format!("out{i}.json"));
        let mut command = Command::new(example("quickstart"));
        command
            .env("QUICKSTART_LOG", &log)
            .env_remove("METLOG_CONFIG");
        if by_env {
            command.env("METLOG_CONFIG", ini);
        } else {
            command.arg(ini);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty(), "the file sender, not stdout");
        let messages: Vec<Message> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| Message::from_json(l).unwrap())
            .collect();
        // The filter drops the informational log lines; the rest is there.
        assert!(messages
            .iter()
            .all(|m| m.kind != "oldstyle" || m.severity <= metlog::Severity::Warning));
        assert_eq!(messages.iter().filter(|m| m.kind == "counter").count(), 3);
        assert_eq!(
            messages.iter().filter(|m| m.kind == "oldstyle").count(),
            1,
            "only the exception"
        );
    }
    // A broken configuration is reported with where it is, and no messages.
    let out = Command::new(example("quickstart"))
        .arg(ini)
        .env_remove("QUICKSTART_LOG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("QUICKSTART_LOG") && stderr.contains("line 11"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn mb_blasts_messages_and_reports_the_counts() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port().to_string();
    let out = Command::new(example("mb"))
        .args([
            "--sender",
            "udp",
            "--port",
            &port,
            "--duration",
            "0.2",
            "--queue",
            "1000",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let number = |label: &str| -> u64 {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("{label} in {stdout}"));
        line[label.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let produced = number("produced:");
    assert!(produced > 0, "{stdout}");
    assert_eq!(
        produced,
        number("sent:") + number("dropped:") + number("failed:") + number("queued:"),
        "{stdout}"
    );
    let mut buf = [0u8; 2048];
    let n = receiver.recv(&mut buf).unwrap();
    assert!(metlog::Message::from_json(std::str::from_utf8(&buf[..n]).unwrap()).is_ok());

    let out = Command::new(example("mb"))
        .args(["--sender", "carrier-pigeon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("unknown sender \"carrier-pigeon\""));
}
