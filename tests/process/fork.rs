//! After `fork()` the child has a working client: its own queue and worker
//! (the parent's worker thread does not exist there), and its own
//! `metlog_pid`. Once the child's messages stayed queued for ever, with the
//! parent's pid. Own process (it forks).
#![allow(unsafe_code)] // fork, waitpid, _exit

use crate::support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::time::Duration;

use metlog::sender::TcpSender;
use metlog::Client;

#[test]
fn the_child_of_a_fork_has_a_working_client_with_its_own_pid() {
    support::in_own_process(
        &support::test_name!(the_child_of_a_fork_has_a_working_client_with_its_own_pid),
        &[],
        || {
            // The plain sender's refusal in the child is reported: kept out of the
            // test's output.
            support::collect_reports();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let reader = std::thread::spawn(move || {
                // The parent's connection and the child's: read both to the end.
                let mut lines = Vec::new();
                let mut readers = Vec::new();
                for _ in 0..2 {
                    let (conn, _) = listener.accept().unwrap();
                    readers.push(std::thread::spawn(move || {
                        BufReader::new(conn)
                            .lines()
                            .map_while(Result::ok)
                            .collect::<Vec<String>>()
                    }));
                }
                for r in readers {
                    lines.extend(r.join().unwrap());
                }
                lines
            });
            let client = Client::builder("forked")
                .sender(TcpSender::new(addr).unwrap())
                .filter(metlog::filter::type_blacklist(["noise"]))
                .build();
            for _ in 0..10 {
                client.incr("parent");
                client.metlog("noise").send();
            }
            client.flush();
            assert_eq!(client.stats().filtered, 10);

            // A sender made without a factory cannot start over in the child.
            struct Discard;
            impl metlog::sender::Transport for Discard {
                fn deliver(
                    &mut self,
                    batch: &metlog::sender::Batch<'_>,
                    outcome: &metlog::sender::Outcome,
                ) {
                    outcome.delivered(batch.len());
                }
            }
            let plain =
                metlog::sender::QueuedSender::new("plain", Discard, Default::default()).unwrap();
            let plain = Client::builder("plain").sender(plain).build();
            plain.incr("in.parent");
            plain.flush();

            // SAFETY: the child only runs metlog and then `_exit`s; it never
            // returns into the test harness.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                for _ in 0..100 {
                    client.incr("child");
                }
                let flushed = client.flush_timeout(Duration::from_secs(10));
                let stats = client.stats();
                // The child's own counts: its 100 calls, none of the parent's.
                // The plain sender refuses (counted failed, reported once), and has
                // nothing to flush: no second report, no wait.
                plain.incr("in.child");
                let plain_ok = plain.flush_timeout(Duration::from_secs(1)).is_ok()
                    && plain.stats().failed == 1
                    && plain.stats().produced() == 1;
                let ok = flushed.is_ok()
                    && stats.sent == 100
                    && stats.filtered == 0
                    && stats.produced() == 100
                    && plain_ok;
                if !ok {
                    eprintln!("child: {flushed:?} {stats:?} plain {:?}", plain.stats());
                }
                drop(client);
                // SAFETY: ends the child without running the parent's exit work.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let mut status = 0;
            // SAFETY: waits for the child just forked.
            let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(waited, pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the child failed: status {status}"
            );
            for _ in 0..10 {
                client.incr("parent");
            }
            drop(client);
            let lines = reader.join().unwrap();
            let pid_of = |name: &str| -> Vec<u64> {
                lines
                    .iter()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                    .filter(|m| m["fields"]["name"] == name)
                    .map(|m| m["metlog_pid"].as_u64().unwrap())
                    .collect()
            };
            let parent = pid_of("parent");
            let child = pid_of("child");
            assert_eq!((parent.len(), child.len()), (20, 100));
            assert!(parent.iter().all(|&p| p == u64::from(std::process::id())));
            assert!(
                child.iter().all(|&p| p == pid as u64),
                "the child's own pid"
            );
        },
    );
}

/// A router's synchronous routes count from zero in the child of a fork, as
/// a client and a background sender do (attack finding: the child's stats
/// showed the parent's messages).
#[test]
fn a_routers_counts_start_over_in_the_child_of_a_fork() {
    support::in_own_process(
        &support::test_name!(a_routers_counts_start_over_in_the_child_of_a_fork),
        &[],
        || {
            let routed = Client::builder("routed")
                .sender(metlog::sender::Router::new(metlog::sender::NullSender))
                .build();
            for _ in 0..10 {
                routed.incr("in.parent");
            }
            assert_eq!(routed.stats().sent, 10);
            // SAFETY: the child only runs metlog and then `_exit`s.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                routed.incr("in.child");
                let stats = routed.stats();
                let ok = stats.sent == 1 && stats.produced() == 1;
                if !ok {
                    eprintln!("child: {stats:?}");
                }
                // SAFETY: ends the child without running the parent's exit work.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let mut status = 0;
            // SAFETY: waits for the child just forked.
            let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(waited, pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the child counted the parent's messages: status {status}"
            );
            assert_eq!(routed.stats().sent, 10, "the parent's own counts");
        },
    );
}
