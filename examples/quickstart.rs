//! The quickstart: a small instrumented program.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! With no configuration at all it prints its metlog messages to stdout, one
//! JSON object per line (the embedded default). Given a configuration file —
//! a metlog-py INI file (section `[metlog]`) or a `.toml` file — as its
//! argument or in the `METLOG_CONFIG` environment variable, it uses that:
//!
//! ```text
//! cargo run --example quickstart -- examples/quickstart.ini
//! METLOG_CONFIG=examples/quickstart.ini cargo run --example quickstart
//! ```

use std::time::Duration;

use metlog::{Client, Severity};

fn main() {
    let config = std::env::args()
        .nth(1)
        .or_else(|| std::env::var(metlog::config::CONFIG_ENV).ok());
    let client = match config {
        Some(path) => match metlog::config::from_file(&path, "metlog") {
            Ok(client) => client,
            Err(e) => {
                eprintln!("quickstart: {e}");
                std::process::exit(1);
            }
        },
        // The embedded default: every message as one JSON line on stdout.
        None => Client::builder("quickstart")
            .sender(metlog::sender::StdoutSender::new())
            .build(),
    };
    metlog::set_global_client(client.clone()).expect("the only global client");
    // Whatever is still queued (network senders) is delivered at exit.
    let _flush_at_exit = client.flush_guard();

    for user in ["ada", "grace", "linus"] {
        handle_login(user);
    }

    client.timer_send("startup", Duration::from_millis(42));
    client
        .metlog("deploy")
        .payload("quickstart v0.1.0")
        .severity(Severity::Notice)
        .field("commit", "abc123")
        .send();
    client.flush();
}

/// Instrumented through the global client: no client is passed around.
fn handle_login(user: &str) {
    let _timer = metlog::timer("login.duration");
    metlog::incr("login.attempts");
    if user == "linus" {
        let err = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "account locked");
        if let Some(client) = metlog::global_client() {
            client.exception(format!("login failed for {user}"), &err);
        }
        return;
    }
    std::thread::sleep(Duration::from_millis(3));
    metlog::info!("user {user} logged in");
}
