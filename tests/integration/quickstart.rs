//! `cargo run --example quickstart` prints valid metlog JSON lines, with and
//! without its configuration file, as the README says; `mb` reports its counts.

use crate::support;

use std::process::Command;

use crate::support::example;
use metlog::Message;

/// The quickstart's messages, read from its stdout: each line one valid
/// envelope with exactly the nine keys.
fn envelopes(stdout: &[u8]) -> Vec<Message> {
    let stdout = std::str::from_utf8(stdout).unwrap();
    stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(value.as_object().unwrap().len(), 9, "{line}");
            Message::from_json(line).unwrap_or_else(|e| panic!("{e}: {line}"))
        })
        .collect()
}

fn kinds(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| &*m.kind).collect()
}

#[test]
fn quickstart_prints_valid_metlog_json_lines() {
    let out = Command::new(example("quickstart"))
        .env_remove("METLOG_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let messages = envelopes(&out.stdout);
    assert_eq!(
        kinds(&messages),
        [
            "oldstyle", "counter", "timer", // ada
            "oldstyle", "counter", "timer", // grace
            "counter", "timer", "oldstyle", // linus: Err, then the exception
            "timer", "deploy",
        ]
    );
    assert!(messages.iter().all(|m| m.logger == "quickstart"));
    // The annotated function: its name, and how each call ended.
    let outcomes: Vec<(&str, &str)> = messages
        .iter()
        .filter(|m| m.kind == "counter" || (m.kind == "timer" && m.fields["name"] != "startup"))
        .map(|m| {
            (
                m.fields["name"].as_str().unwrap(),
                m.fields["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("login.attempts", "ok"),
            ("login.duration", "ok"),
            ("login.attempts", "ok"),
            ("login.duration", "ok"),
            ("login.attempts", "err"),
            ("login.duration", "err"),
        ]
    );
    assert_eq!(messages[8].severity, metlog::Severity::Alert);
}

#[test]
fn quickstart_follows_a_config_file_from_the_argument_or_metlog_config() {
    let ini = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.ini");
    for by_env in [false, true] {
        let mut command = Command::new(example("quickstart"));
        command.env_remove("METLOG_CONFIG");
        if by_env {
            command.env("METLOG_CONFIG", ini);
        } else {
            command.arg(ini);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let messages = envelopes(&out.stdout);
        // The filter drops the informational log lines; the rest is there.
        assert_eq!(
            kinds(&messages),
            [
                "counter", "timer", "counter", "timer", "counter", "timer", "oldstyle", "timer",
                "deploy"
            ],
            "only the exception among the log lines"
        );
    }
}

#[test]
fn a_broken_quickstart_configuration_says_where_and_sends_nothing() {
    let dir = std::env::temp_dir().join(format!("metlog-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ini = dir.join("broken.ini");
    std::fs::write(
        &ini,
        "[metlog]\nlogger = q\nsender_class = metlog.senders.dev.FileSender\nsender_filepath = ${QUICKSTART_MISSING}\n",
    )
    .unwrap();
    let out = Command::new(example("quickstart"))
        .arg(&ini)
        .env_remove("QUICKSTART_MISSING")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no messages");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("QUICKSTART_MISSING") && stderr.contains("line 4"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The README's quickstart commands, exactly as written there (the
/// `sh` blocks' lines that start with `cargo run --example quickstart`),
/// work from a fresh checkout: each exits 0 and prints metlog envelopes.
#[test]
fn the_readme_quickstart_commands_work_as_written() {
    let root = support::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if in_sh && line.starts_with("cargo run --example quickstart") {
            // Without the trailing `# comment`.
            let command = line.split(" # ").next().unwrap().trim();
            commands.push(command.to_owned());
        }
    }
    assert!(
        commands.contains(&"cargo run --example quickstart".to_owned())
            && commands
                .iter()
                .any(|c| c.contains("examples/quickstart.ini")),
        "the README gives the quickstart with and without a configuration: {commands:?}"
    );
    // The same `cargo` as runs these tests, first on PATH.
    let cargo_dir = std::path::Path::new(env!("CARGO")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(cargo_dir.to_owned()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    for command in commands {
        let out = Command::new("sh")
            .args(["-c", &command])
            .current_dir(root)
            .env("PATH", &path)
            .env_remove("METLOG_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let messages = envelopes(&out.stdout);
        assert!(
            messages.len() >= 9,
            "{command}: {} messages",
            messages.len()
        );
    }
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

/// The README's dependency line (`path = "../metlog-rs/metlog"`, pointed at
/// this checkout) makes a program outside the workspace build and send:
/// the macros and the free functions, through a global client.
#[test]
fn the_readme_dependency_line_builds_a_program_outside_the_workspace() {
    let root = support::workspace_root().canonicalize().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("metlog = { path = "))
        .expect("the README's path dependency");
    let line = line.split(" # ").next().unwrap().trim();
    let dependency = line.replace("../metlog-rs", &root.display().to_string());
    let project = std::env::temp_dir().join(format!("metlog-readme-dep-{}", std::process::id()));
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        format!(
            "[package]\nname = \"readme-dep\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{dependency}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    // The workspace's versions of every dependency: nothing is resolved anew.
    std::fs::copy(root.join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    std::fs::write(
        project.join("src/main.rs"),
        r#"
#[metlog::incr]
fn handled() -> u32 { 7 }

fn main() {
    let client = metlog::Client::builder("dep").sender(metlog::sender::StdoutSender::new()).build();
    let _flush_at_exit = client.flush_guard();
    metlog::set_global_client(client).unwrap();
    assert_eq!(handled(), 7);
    metlog::incr("free");
}
"#,
    )
    .unwrap();
    // In the workspace's target directory: metlog as a dependency is built
    // beside the workspace's own artifacts (a few seconds), not from scratch.
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--manifest-path"])
        .arg(project.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&project).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = envelopes(&out.stdout)
        .iter()
        .map(|m| m.fields["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["readme_dep.handled", "free"]);
}

/// The crate docs give the dependency line the README gives (a path or
/// git dependency: `metlog` is not on crates.io), never a crates.io
/// version that `cargo` cannot find.
#[test]
fn the_crate_docs_give_a_dependency_line_that_resolves() {
    let root = support::workspace_root();
    let docs = std::fs::read_to_string(root.join("metlog/src/lib.rs")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let path_line = readme
        .lines()
        .find(|l| l.starts_with("metlog = { path = "))
        .and_then(|l| l.split(" # ").next())
        .unwrap()
        .trim()
        .to_owned();
    let docs_text: String = docs
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        docs_text.contains(&path_line),
        "the crate docs give the README's line {path_line:?}"
    );
    assert!(
        !docs_text.contains("`metlog = \""),
        "no crates.io version line in the crate docs"
    );
}

/// An INI-only user (`default-features = false`, the macros) builds no
/// TOML parser: `toml` is a default feature, not a dependency of every
/// build.
#[test]
fn toml_is_not_built_without_its_feature() {
    let root = support::workspace_root();
    let tree = |features: &[&str]| {
        let out = Command::new(env!("CARGO"))
            .args([
                "tree",
                "-p",
                "metlog",
                "-e",
                "normal",
                "--prefix",
                "none",
                "--offline",
            ])
            .args(features)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let ini_only = tree(&["--no-default-features", "--features", "macros"]);
    assert!(
        !ini_only.lines().any(|l| l.starts_with("toml")),
        "{ini_only}"
    );
    assert!(tree(&[]).lines().any(|l| l.starts_with("toml ")));
}
