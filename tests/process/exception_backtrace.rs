//! The backtrace `exception` adds to its payload, as the environment asks
//! (`RUST_LIB_BACKTRACE`, else `RUST_BACKTRACE`, as `anyhow` reads them).
//! Own process: std reads the variables once per process.

use crate::support;
use metlog::sender::CaptureSender;
use metlog::Client;

fn payload_of_an_exception() -> String {
    let capture = CaptureSender::new();
    let client = Client::builder("app").sender(capture.clone()).build();
    client.error_with("checkout failed", &std::io::Error::other("db down"));
    capture.messages()[0].payload.to_string()
}

#[test]
fn rust_lib_backtrace_adds_a_backtrace_of_the_call() {
    support::in_own_process(
        &support::test_name!(rust_lib_backtrace_adds_a_backtrace_of_the_call),
        &[("RUST_LIB_BACKTRACE", "1"), ("RUST_BACKTRACE", "0")],
        || {
            let payload = payload_of_an_exception();
            let (chain, backtrace) = payload
                .split_once("\nStack backtrace:\n")
                .unwrap_or_else(|| panic!("no backtrace in {payload:?}"));
            assert_eq!(chain, "checkout failed\nError: db down");
            // The frames lead to this test's function; at most 4 KB of them.
            assert!(backtrace.starts_with("   0: "), "{backtrace}");
            assert!(
                backtrace.contains("payload_of_an_exception")
                    || backtrace.ends_with("(backtrace truncated)"),
                "{backtrace}"
            );
            assert!(backtrace.len() <= 4096 + 30, "{}", backtrace.len());
        },
    );
}

#[test]
fn no_backtrace_unless_asked() {
    support::in_own_process(
        &support::test_name!(no_backtrace_unless_asked),
        &[("RUST_LIB_BACKTRACE", "0"), ("RUST_BACKTRACE", "1")],
        || {
            assert_eq!(payload_of_an_exception(), "checkout failed\nError: db down");
        },
    );
}
