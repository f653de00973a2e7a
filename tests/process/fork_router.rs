//! Forks while other threads send through a router whose default route
//! keeps no counts of its own (`from_fn`) and another is a queue: each child's first messages go
//! through at once — no lock the parent's threads held at the fork is met
//! held — and its counts, the client's and the router's, start over
//! (attack findings: 1–2 children in 300 hung for ever on their first
//! message; a child's stats said sent 3 for 2 calls). Own process (it
//! forks).
#![allow(unsafe_code)] // fork

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::support::{self, children};

use children::Ended;
use std::time::Duration;

use metlog::sender::{
    from_fn, Batch, NullSender, Outcome, QueueConfig, QueuedSender, Router, Transport,
};
use metlog::Client;

/// A child's exit status when its counts were wrong.
const WRONG_COUNTS: i32 = 3;

/// Delivers everything, nowhere.
struct Discard;

impl Transport for Discard {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        outcome.delivered(batch.len());
    }
}

#[test]
fn a_child_forked_while_threads_send_through_a_router_sends_and_counts_afresh() {
    support::in_own_process(
        &support::test_name!(
            a_child_forked_while_threads_send_through_a_router_sends_and_counts_afresh
        ),
        &[],
        || {
            let queued =
                QueuedSender::with_factory("discard", || Ok(Discard), QueueConfig::default())
                    .unwrap();
            let router = Router::new(from_fn(|_| Ok(())))
                .route(["timer"], queued)
                .route(["gauge"], NullSender);
            let client = Client::builder("forked-router").sender(router).build();
            let stop = Arc::new(AtomicBool::new(false));
            let senders: Vec<_> = (0..3)
                .map(|_| {
                    let (stop, client) = (stop.clone(), client.clone());
                    std::thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            client.info("parent");
                            client.incr("parent");
                            client.timer_send("parent", Duration::from_millis(1));
                        }
                    })
                })
                .collect();
            let (mut hung, mut wrong) = (0, 0);
            for _ in 0..300 {
                // SAFETY: the child only calls into metlog and exits.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    client.info("child");
                    client.incr("child");
                    client.timer_send("child", Duration::from_millis(1));
                    client.flush();
                    let stats = client.stats();
                    let counted = stats.sent == 3 && stats.produced() == 3;
                    std::process::exit(if counted { 0 } else { WRONG_COUNTS });
                }
                assert!(pid > 0, "fork failed");
                match children::wait_or_kill(pid, support::PATIENCE) {
                    Ended::Exited(0) => {}
                    Ended::Exited(_) => wrong += 1,
                    Ended::Hung => hung += 1,
                }
                if hung > 0 {
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            for sender in senders {
                sender.join().unwrap();
            }
            assert_eq!(hung, 0, "a forked child hung on its first message");
            assert_eq!(wrong, 0, "children whose counts were not their own");
        },
    );
}
