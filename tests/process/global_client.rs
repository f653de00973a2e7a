//! The global client, in its own process: it can be set only once.

use crate::support;
use metlog::sender::CaptureSender;
use metlog::Client;

#[test]
fn global_client_is_set_once_and_serves_every_thread_unless_a_scope_overrides_it() {
    support::in_own_process(
        &support::test_name!(
            global_client_is_set_once_and_serves_every_thread_unless_a_scope_overrides_it
        ),
        &[],
        || {
            assert!(metlog::global_client().is_none());
            metlog::incr("before any client"); // a no-op, not a panic

            let capture = CaptureSender::new();
            let client = Client::builder("global").sender(capture.clone()).build();
            metlog::set_global_client(client).expect("first set succeeds");

            // A second set fails with a typed error that hands the client back.
            let second = Client::builder("second").build();
            let err = metlog::set_global_client(second).unwrap_err();
            assert!(err.to_string().contains("already set"), "{err}");
            assert_eq!(err.into_inner().logger(), "second");
            assert_eq!(metlog::global_client().unwrap().logger(), "global");

            // Every thread sees it.
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for _ in 0..100 {
                            metlog::incr("threaded");
                        }
                        drop(metlog::timer("threaded.timer"));
                        metlog::info!("from a thread");
                    });
                }
            });
            assert_eq!(capture.len(), 4 * 102);

            // A thread-local scope takes precedence, then the global is current again.
            let scoped_capture = CaptureSender::new();
            let scoped = Client::builder("scoped")
                .sender(scoped_capture.clone())
                .build();
            metlog::with_client(&scoped, || metlog::incr("scoped"));
            metlog::incr("global again");
            assert_eq!(scoped_capture.len(), 1);
            assert_eq!(capture.len(), 4 * 102 + 1);
            assert_eq!(metlog::current_client().unwrap().logger(), "global");
        },
    );
}

#[metlog::incr(name = "annotated")]
fn annotated() {}

#[metlog::timer(name = "annotated.timer")]
fn annotated_timer() {}

/// A service reloading its configuration replaces the global client while
/// other threads send: every message reaches the old client or the new one
/// — the free functions', a timer's, and annotated functions' — none is
/// lost, nothing panics; and clearing it makes every call a no-op again.
#[test]
fn the_global_client_is_replaced_and_cleared_while_threads_send() {
    support::in_own_process(
        &support::test_name!(the_global_client_is_replaced_and_cleared_while_threads_send),
        &[],
        || {
            use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
            let client = |n: usize| {
                Client::builder(format!("v{n}"))
                    .sender(metlog::sender::NullSender)
                    .build()
            };
            let mut clients = vec![client(0)];
            assert!(metlog::replace_global_client(clients[0].clone()).is_none());
            let (stop, calls) = (AtomicBool::new(false), AtomicU64::new(0));
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        let mut sent = 0;
                        while !stop.load(Ordering::Relaxed) || sent < 400 {
                            metlog::incr("free");
                            drop(metlog::timer("free.timer"));
                            annotated();
                            annotated_timer();
                            sent += 4;
                        }
                        calls.fetch_add(sent, Ordering::Relaxed);
                    });
                }
                for n in 1..=200 {
                    clients.push(client(n));
                    let old = metlog::replace_global_client(clients[n].clone()).unwrap();
                    assert_eq!(old.logger(), format!("v{}", n - 1));
                    std::thread::yield_now();
                }
                stop.store(true, Ordering::Relaxed);
            });
            let sent: u64 = clients.iter().map(|c| c.stats().sent).sum();
            assert_eq!(
                sent,
                calls.load(Ordering::Relaxed),
                "every message reached a client"
            );
            assert!(clients[200].stats().sent > 0);

            // Cleared: nothing is current, and nothing reaches the last client.
            assert_eq!(metlog::clear_global_client().unwrap().logger(), "v200");
            assert!(metlog::global_client().is_none() && metlog::current_client().is_none());
            let before = clients[200].stats().sent;
            metlog::incr("after clear");
            annotated();
            annotated_timer();
            assert_eq!(clients[200].stats().sent, before);
            // And it can be set again.
            metlog::set_global_client(client(201)).expect("set after a clear");
        },
    );
}

/// An annotated site that learnt the global client has nothing for it (an
/// inactive client, a disabled timer) learns again once it is replaced.
#[test]
fn an_annotated_site_forgets_what_it_learnt_of_a_replaced_global_client() {
    support::in_own_process(
        &support::test_name!(an_annotated_site_forgets_what_it_learnt_of_a_replaced_global_client),
        &[],
        || {
            metlog::set_global_client(Client::inactive("unconfigured")).unwrap();
            annotated();
            annotated();
            let capture = CaptureSender::new();
            let disabled = Client::builder("app")
                .sender(capture.clone())
                .disabled_timers(["annotated.timer"])
                .build();
            assert!(metlog::replace_global_client(disabled).is_some());
            annotated();
            annotated_timer();
            annotated_timer();
            assert_eq!(capture.len(), 1, "{:?}", capture.messages());
            let live = CaptureSender::new();
            metlog::replace_global_client(Client::builder("app").sender(live.clone()).build());
            annotated_timer();
            annotated();
            let kinds: Vec<_> = live.messages().into_iter().map(|m| m.kind).collect();
            assert_eq!(kinds, ["timer", "counter"]);
        },
    );
}
