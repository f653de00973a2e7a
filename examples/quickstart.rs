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
    // Configure once at startup; everything below finds the client itself.
    metlog::set_global_client(client.clone()).expect("the only global client");
    // Network senders deliver from a background queue: this guard flushes
    // it when `main` returns, so no message is left behind.
    let _flush_at_exit = client.flush_guard();

    for user in ["ada", "grace", "linus"] {
        if let Err(e) = handle_login(user) {
            client.exception(format!("login failed for {user}"), &e);
        }
    }

    client.timer_send("startup", Duration::from_millis(42));
    client
        .metlog("deploy")
        .payload("quickstart v0.1.0")
        .severity(Severity::Notice)
        .field("commit", "abc123")
        .send();
}

/// Annotated: each call sends a counter (`login.attempts`) and a timer
/// (`login.duration`), both with `fields.outcome` `ok` or `err` — metlog-py's
/// `@incr_count` and `@timeit`, through the global client.
#[metlog::incr("login.attempts")]
#[metlog::timer("login.duration")]
fn handle_login(user: &str) -> Result<(), std::io::Error> {
    if user == "linus" {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "account locked",
        ));
    }
    std::thread::sleep(Duration::from_millis(3));
    metlog::info!("user {user} logged in");
    Ok(())
}
