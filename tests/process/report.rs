//! `metlog::report`: metlog's own trouble, once per cause, on stderr or to a
//! handler — and a handler can neither break the caller nor loop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support;

use metlog::sender::{SendError, SendErrorKind};
use metlog::Client;

/// The handler is process-wide: these tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn failing_client(logger: &str) -> Client {
    Client::builder(logger)
        .sender(metlog::sender::from_fn(|_| {
            Err(SendError::new(SendErrorKind::Io, "router down"))
        }))
        .build()
}

#[test]
fn a_handler_receives_each_cause_once() {
    support::in_own_process(
        &support::test_name!(a_handler_receives_each_cause_once),
        &[],
        || {
            let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
            let seen = Arc::new(Mutex::new(Vec::<String>::new()));
            let sink = seen.clone();
            metlog::report::set_handler(move |text: &str| {
                sink.lock().unwrap().push(text.to_owned())
            });
            let client = failing_client("once");
            for _ in 0..100 {
                client.incr("lost");
            }
            metlog::report::to_stderr();
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1, "{seen:?}");
            assert!(seen[0].starts_with("client \"once\""), "{}", seen[0]);
            assert!(seen[0].contains("router down"), "{}", seen[0]);
            assert_eq!(client.stats().failed, 100);
        },
    );
}

#[test]
fn a_panicking_handler_costs_the_report_not_the_caller() {
    support::in_own_process(
        &support::test_name!(a_panicking_handler_costs_the_report_not_the_caller),
        &[],
        || {
            let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
            metlog::report::set_handler(|_: &str| panic!("handler bug"));
            let client = failing_client("panicky");
            client.incr("lost"); // must return normally
            client.info("and again");
            metlog::report::to_stderr();
            assert_eq!(client.stats().failed, 2);
        },
    );
}

#[test]
fn reports_from_many_threads_while_the_handler_changes_neither_deadlock_nor_get_lost() {
    support::in_own_process(
        &support::test_name!(
            reports_from_many_threads_while_the_handler_changes_neither_deadlock_nor_get_lost
        ),
        &[],
        || {
            let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
            let count = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..8)
                .map(|i| {
                    let count = count.clone();
                    std::thread::spawn(move || {
                        for round in 0..50 {
                            let count = count.clone();
                            metlog::report::set_handler(move |_: &str| {
                                count.fetch_add(1, Ordering::Relaxed);
                            });
                            // A new client per round: each reports its first failure.
                            failing_client(&format!("t{i}-{round}")).incr("lost");
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            metlog::report::to_stderr();
            // Every report reached one of the handlers (all count into `count`).
            assert_eq!(count.load(Ordering::Relaxed), 8 * 50);
        },
    );
}

/// In a child process: a handler that reports through metlog — whose own
/// sender fails, reporting again — gets the outer report; the inner one goes
/// to stderr instead of recursing into the handler.
#[test]
fn a_report_made_inside_the_handler_goes_to_stderr() {
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("nested") {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        metlog::report::set_handler(move |text: &str| {
            seen.fetch_add(1, Ordering::Relaxed);
            // Route the report into metlog, through a client that fails too.
            failing_client("inner").error(text.to_owned());
        });
        failing_client("outer").incr("lost");
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        return;
    }
    let (_, stderr) = support::run_child(
        &support::test_name!(a_report_made_inside_the_handler_goes_to_stderr),
        "nested",
        &[],
    );
    let reports = support::report_lines(&stderr);
    assert_eq!(reports.len(), 1, "{stderr}");
    assert!(reports[0].contains("client \"inner\""), "{}", reports[0]);
}
