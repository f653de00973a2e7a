//! The panic plugin: one message per panic, the previous hook still runs.
//! Own process: it installs the process-wide panic hook.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use metlog::sender::CaptureSender;
use metlog::{Client, Severity};

static PREVIOUS_HOOK_RAN: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_panic_in_a_thread_sends_exactly_one_message_and_chains() {
    support::in_own_process(
        &support::test_name!(a_panic_in_a_thread_sends_exactly_one_message_and_chains),
        &[],
        || {
            std::panic::set_hook(Box::new(|_| {
                PREVIOUS_HOOK_RAN.fetch_add(1, Ordering::SeqCst);
            }));
            let capture = CaptureSender::new();
            let client = Client::builder("svc").sender(capture.clone()).build();
            metlog::plugin::panics::install(Some(client), Duration::from_secs(2));

            let result = std::thread::Builder::new()
                .name("worker-7".into())
                .spawn(|| panic!("invariant broken: {}", 42))
                .unwrap()
                .join();
            assert!(result.is_err());

            let msgs = capture.messages();
            assert_eq!(msgs.len(), 1, "{msgs:#?}");
            let msg = &msgs[0];
            assert_eq!(msg.kind, "panic");
            assert_eq!(msg.severity, Severity::Critical);
            assert_eq!(msg.payload, "invariant broken: 42");
            assert_eq!(msg.fields["thread"], "worker-7");
            let location = msg.fields["location"].as_str().unwrap();
            assert!(
                location.starts_with("tests/process/panic_hook.rs:"),
                "{location}"
            );
            assert!(msg.fields["backtrace"].as_str().is_some());
            assert_eq!(
                PREVIOUS_HOOK_RAN.load(Ordering::SeqCst),
                1,
                "the previous hook ran once"
            );
        },
    );
}

/// A sender that panics while the hook reports must not turn the panic
/// into an abort (a panic inside a panic hook aborts the process): the
/// child process exits normally, and the sender's panic is counted.
#[test]
fn a_sender_that_panics_while_the_hook_reports_does_not_abort() {
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("panicking-sender") {
        let sender = metlog::sender::from_fn(|_| panic!("the sender's own bug"));
        let client = Client::builder("svc").sender(sender).build();
        metlog::plugin::panics::install(Some(client.clone()), Duration::from_secs(1));
        let result = std::thread::spawn(|| panic!("the application's panic")).join();
        assert!(result.is_err());
        assert_eq!(client.stats().failed, 1, "{:?}", client.stats());
        println!("child survived");
        return;
    }
    let (stdout, _) = support::run_child(
        &support::test_name!(a_sender_that_panics_while_the_hook_reports_does_not_abort),
        "panicking-sender",
        &[],
    );
    assert!(stdout.contains("child survived"), "{stdout}");
}

/// A transport that panics, with the panic plugin reporting through the
/// same sender: the transport's panic (on metlog's worker thread) is the
/// sender's to count, not reported again into the queue that panicked —
/// which once looped for ever, one report per panic.
#[test]
fn a_panicking_transport_does_not_feed_the_panic_plugin() {
    use metlog::sender::{Batch, Outcome, QueueConfig, QueuedSender, Transport};
    use std::sync::Arc;

    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("panicking-transport") {
        struct Panics(Arc<AtomicUsize>);
        impl Transport for Panics {
            fn deliver(&mut self, _: &Batch<'_>, _: &Outcome) {
                self.0.fetch_add(1, Ordering::SeqCst);
                panic!("transport bug");
            }
        }
        let batches = Arc::new(AtomicUsize::new(0));
        let config = QueueConfig::default().flush_timeout(Duration::from_millis(500));
        let sender = QueuedSender::new("panics", Panics(batches.clone()), config).unwrap();
        let client = Client::builder("svc").sender(sender).build();
        metlog::plugin::panics::install(Some(client.clone()), Duration::from_millis(500));
        client.info("hello");
        let _ = client.flush_timeout(Duration::from_secs(2));
        std::thread::sleep(Duration::from_secs(2));
        let seen = batches.load(Ordering::SeqCst);
        assert_eq!(seen, 1, "the transport saw {seen} batches for one message");
        println!("child survived");
        return;
    }
    let (stdout, _) = support::run_child(
        &support::test_name!(a_panicking_transport_does_not_feed_the_panic_plugin),
        "panicking-transport",
        &[],
    );
    assert!(stdout.contains("child survived"), "{stdout}");
}

/// A panic on a user's thread whose name begins with `metlog-` is reported
/// like any other (attack finding: the plugin took every such thread for
/// one of its own and said nothing).
#[test]
fn a_users_thread_named_like_metlogs_own_is_reported() {
    support::in_own_process(
        &support::test_name!(a_users_thread_named_like_metlogs_own_is_reported),
        &[],
        || {
            std::panic::set_hook(Box::new(|_| {}));
            let capture = CaptureSender::new();
            let client = Client::builder("svc").sender(capture.clone()).build();
            metlog::plugin::panics::install(Some(client), Duration::from_secs(2));
            let result = std::thread::Builder::new()
                .name("metlog-ingest".into())
                .spawn(|| panic!("boom"))
                .unwrap()
                .join();
            assert!(result.is_err());
            let msgs = capture.messages();
            assert_eq!(msgs.len(), 1, "{msgs:#?}");
            assert_eq!(msgs[0].fields["thread"], "metlog-ingest");
        },
    );
}
