//! The quickstart: a small instrumented program.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! With no configuration at all it prints its metlog messages to stdout, one
//! JSON object per line (the embedded default). Reading a metlog-py style
//! config file — `cargo run --example quickstart -- app.ini`, or the
//! `METLOG_CONFIG` environment variable — arrives with the configuration
//! issue; until then such a path is reported and the default is used.

use std::time::Duration;

use metlog::{Client, Severity};

fn main() {
    let config = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("METLOG_CONFIG").ok());
    if let Some(path) = config {
        eprintln!(
            "quickstart: config file {path:?} ignored: reading config files is not \
             implemented yet; using the built-in default (JSON lines on stdout)"
        );
    }

    // The embedded default: every message as one JSON line on stdout.
    let client = Client::builder("quickstart")
        .sender(metlog::sender::StdoutSender::new())
        .build();
    metlog::set_global_client(client.clone()).expect("the only global client");

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
