//! A fork while another thread holds one of metlog's process-wide locks (the
//! named-client registry): the child must not inherit it held — there the
//! thread holding it does not exist, and the child's exit (which flushes the
//! named clients) or its own `get_client` would wait for ever. Own process
//! (it forks).
#![allow(unsafe_code)] // fork, waitpid, kill

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{self, children};

use children::Ended;
use metlog::sender::NullSender;
use metlog::Client;

#[test]
fn a_child_forked_while_the_registry_is_busy_exits() {
    support::in_own_process(
        &support::test_name!(a_child_forked_while_the_registry_is_busy_exits),
        &[],
        || {
            let client = Client::builder("forked").sender(NullSender).build();
            metlog::set_global_client(client.clone()).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let churn = {
                let (stop, client) = (stop.clone(), client.clone());
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        metlog::set_client(format!("n{}", i % 7), client.clone());
                        let _ = metlog::get_client("unconfigured");
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(50));
            let mut hung = 0;
            for _ in 0..40 {
                // SAFETY: the child only calls into metlog and exits.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    metlog::incr("child");
                    let _ = metlog::get_client("n1");
                    std::process::exit(0);
                }
                assert!(pid > 0, "fork failed");
                match children::wait_or_kill(pid, support::PATIENCE) {
                    Ended::Exited(code) => assert_eq!(code, 0),
                    Ended::Hung => hung += 1,
                }
                if hung > 0 {
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            churn.join().unwrap();
            assert_eq!(hung, 0, "a forked child hung on a lock held at the fork");
        },
    );
}

fn raven_for_walks() -> metlog::plugin::raven::Raven {
    metlog::plugin::raven::Raven::new("http://public:secret@localhost:9000/2").unwrap()
}

#[metlog::capture_stack]
fn panics_in_the_child() {
    panic!("in the child");
}

/// A fork while another thread walks the stack for a Sentry report (the
/// `backtrace` crate holds a process-wide lock then): the child's first
/// panic, whose hook walks the stack too, is reported rather than waiting
/// for ever (1 child in 15 hung).
#[test]
fn a_child_forked_while_a_stack_is_walked_reports_its_panic() {
    support::in_own_process(
        &support::test_name!(a_child_forked_while_a_stack_is_walked_reports_its_panic),
        &[],
        || {
            let capture = metlog::sender::CaptureSender::ring(1);
            let client = Client::builder("forked")
                .plugin("raven", raven_for_walks())
                .sender(capture.clone())
                .build();
            metlog::set_global_client(client).unwrap();
            // The walker reports through a client of its own: the capture's
            // lock held at a fork would hang the child in the capture, not
            // in the walk this test is about.
            let walking = Client::builder("walker")
                .plugin("raven", raven_for_walks())
                .sender(NullSender)
                .build();
            let stop = Arc::new(AtomicBool::new(false));
            let walker = {
                let (stop, client) = (stop.clone(), walking);
                std::thread::spawn(move || {
                    let err = "x".parse::<u8>().unwrap_err();
                    while !stop.load(Ordering::Relaxed) {
                        client.raven("walking", &err);
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(50));
            // Its hook installed (each panic's stack is walked in it).
            let _ = std::panic::catch_unwind(panics_in_the_child);
            let mut hung = 0;
            for _ in 0..60 {
                // SAFETY: the child only calls into metlog and exits.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    let before = capture.dropped();
                    let _ = std::panic::catch_unwind(panics_in_the_child);
                    let reported =
                        capture.messages()[0].fields.get("msg").unwrap().as_str() == Some("");
                    std::process::exit(if reported && capture.dropped() == before + 1 {
                        0
                    } else {
                        3
                    });
                }
                assert!(pid > 0, "fork failed");
                match children::wait_or_kill(pid, support::PATIENCE) {
                    Ended::Exited(code) => {
                        assert_eq!(code, 0, "the child's panic was not reported")
                    }
                    Ended::Hung => hung += 1,
                }
                if hung > 0 {
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            walker.join().unwrap();
            assert_eq!(hung, 0, "a forked child hung walking its stack");
        },
    );
}
