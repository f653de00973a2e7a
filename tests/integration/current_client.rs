//! Thread-local scopes, named clients and the async scope. The global client
//! has its own test binary (`global_client.rs`): it can be set only once per
//! process.

use std::future::Future;
use std::sync::{Arc, Barrier};
use std::task::Context;

use crate::support::{noop_waker, poll_once, YieldOnce};
use metlog::sender::CaptureSender;
use metlog::{Client, WithClient};

fn capture_client(logger: &'static str) -> (Client, CaptureSender) {
    let capture = CaptureSender::new();
    let client = Client::builder(logger).sender(capture.clone()).build();
    (client, capture)
}

#[test]
fn without_any_client_free_functions_are_no_ops() {
    assert!(metlog::current_client().is_none());
    metlog::incr("nothing");
    metlog::counter("nothing").count(5).send();
    let t = metlog::timer("nothing");
    assert!(!t.is_running());
    assert_eq!(t.stop(), None);
    metlog::metlog("nothing").payload("x").send();
    metlog::warn!("nothing {}", 1);
}

#[test]
fn with_client_scopes_free_functions_and_restores_the_previous_client() {
    let (outer, outer_capture) = capture_client("outer");
    let (inner, inner_capture) = capture_client("inner");
    metlog::with_client(&outer, || {
        metlog::incr("a");
        metlog::with_client(&inner, || {
            metlog::incr("b");
            drop(metlog::timer("t"));
            metlog::metlog("custom").send();
            metlog::counter("c").count(2).send();
        });
        metlog::incr("d");
    });
    metlog::incr("after"); // no client any more
    let names = |c: &CaptureSender| -> Vec<String> {
        c.messages()
            .iter()
            .map(|m| match m.field("name") {
                Some(name) => name.to_string(),
                None => m.kind.to_string(),
            })
            .collect()
    };
    assert_eq!(names(&outer_capture), ["a", "d"]);
    assert_eq!(names(&inner_capture), ["b", "t", "custom", "c"]);
    assert!(inner_capture.messages().iter().all(|m| m.logger == "inner"));
}

#[test]
fn scope_is_restored_when_the_closure_panics() {
    let (client, capture) = capture_client("panicky");
    let result = std::panic::catch_unwind(|| {
        metlog::with_client(&client, || {
            metlog::incr("before panic");
            panic!("user code panics");
        })
    });
    assert!(result.is_err());
    assert!(metlog::current_client().is_none());
    metlog::incr("after");
    assert_eq!(capture.len(), 1);
}

#[test]
fn set_default_guard_restores_on_drop() {
    let (a, a_capture) = capture_client("a");
    let (b, b_capture) = capture_client("b");
    let guard_a = metlog::set_default(&a);
    metlog::incr("1");
    {
        let _guard_b = metlog::set_default(&b);
        metlog::incr("2");
        assert_eq!(metlog::current_client().unwrap().logger(), "b");
    }
    metlog::incr("3");
    drop(guard_a);
    metlog::incr("4");
    assert_eq!(a_capture.len(), 2);
    assert_eq!(b_capture.len(), 1);
}

#[test]
fn scopes_are_per_thread() {
    let (main_client, main_capture) = capture_client("main");
    let barrier = Arc::new(Barrier::new(5));
    let _guard = metlog::set_default(&main_client);
    let captures: Vec<CaptureSender> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let barrier = barrier.clone();
                s.spawn(move || {
                    // A new thread does not inherit the spawning thread's scope.
                    assert!(metlog::current_client().is_none());
                    let (client, capture) = capture_client("thread");
                    metlog::with_client(&client, || {
                        barrier.wait(); // all scopes live at the same time
                        for _ in 0..=i {
                            metlog::incr("t");
                        }
                    });
                    capture
                })
            })
            .collect();
        barrier.wait();
        metlog::incr("main");
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let counts: Vec<usize> = captures.iter().map(CaptureSender::len).collect();
    assert_eq!(counts, [1, 2, 3, 4]);
    assert_eq!(main_capture.len(), 1);
}

#[test]
fn named_clients_from_several_threads() {
    let (db, db_capture) = capture_client("db");
    assert!(metlog::set_client("db", db).is_none());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    metlog::get_client("db").incr("query");
                }
            });
        }
    });
    assert_eq!(db_capture.len(), 400);

    // Unknown names give an inactive client whose logger is the name; it is
    // registered, so the same name gives the same (inactive) client.
    let unknown = metlog::get_client("never-configured");
    assert!(!unknown.is_active());
    assert_eq!(unknown.logger(), "never-configured");
    unknown.incr("dropped");
    assert!(metlog::named_client("never-configured").is_some());

    // Replacing and removing.
    let (db2, db2_capture) = capture_client("db2");
    let old = metlog::set_client("db", db2).expect("db was registered");
    assert_eq!(old.logger(), "db");
    metlog::get_client("db").incr("q");
    assert_eq!(db2_capture.len(), 1);
    assert!(metlog::remove_client("db").is_some());
    assert!(metlog::named_client("db").is_none());
}

#[test]
fn with_client_on_a_future_is_current_on_every_poll_on_any_thread() {
    let (client, capture) = capture_client("async");
    let fut = async {
        metlog::incr("first poll");
        YieldOnce(false).await;
        metlog::incr("second poll");
    }
    .with_client(&client);
    let mut fut = Box::pin(fut);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(
        metlog::current_client().is_none(),
        "scope ends with the poll"
    );
    // The second poll happens on another thread, as on a work-stealing runtime.
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut cx = Context::from_waker(&waker);
            assert!(fut.as_mut().poll(&mut cx).is_ready());
        });
    });
    assert_eq!(capture.len(), 2);
}

#[test]
fn dropping_a_scoped_future_runs_its_drop_inside_the_scope() {
    let (client, capture) = capture_client("async-drop");
    struct ReportOnDrop;
    impl Drop for ReportOnDrop {
        fn drop(&mut self) {
            metlog::incr("dropped");
        }
    }
    let fut = async {
        let _r = ReportOnDrop;
        YieldOnce(false).await;
    }
    .with_client(&client);
    let mut fut = Box::pin(fut);
    assert!(poll_once(fut.as_mut()).is_pending());
    drop(fut);
    assert_eq!(capture.len(), 1);
}

#[test]
fn with_current_client_captures_the_scope_at_creation() {
    let (client, capture) = capture_client("captured");
    let fut = metlog::with_client(&client, || {
        async {
            metlog::incr("in task");
        }
        .with_current_client()
    });
    let mut fut = Box::pin(fut);
    assert!(poll_once(fut.as_mut()).is_ready());
    assert_eq!(capture.len(), 1);
}

/// Guards dropped in any order leave the thread as it was: after both are
/// gone there is no scoped client, whichever went first — also while
/// another thread holds a scope of its own (which keeps the scope lookup
/// switched on).
#[test]
fn scope_guards_dropped_out_of_order_leave_the_thread_as_it_was() {
    let a = Client::builder("A")
        .sender(metlog::sender::NullSender)
        .build();
    let b = Client::builder("B")
        .sender(metlog::sender::NullSender)
        .build();
    let (hold, release) = std::sync::mpsc::channel::<()>();
    let (held, is_held) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        let c = Client::builder("C").build();
        let _scope = metlog::set_default(&c);
        held.send(()).unwrap();
        let _ = release.recv();
    });
    is_held.recv().unwrap();

    let ga = metlog::set_default(&a);
    let gb = metlog::set_default(&b);
    assert_eq!(metlog::current_client().unwrap().logger(), "B");
    drop(ga);
    assert_eq!(
        metlog::current_client().unwrap().logger(),
        "B",
        "b is still in scope"
    );
    drop(gb);
    assert!(
        metlog::current_client().is_none(),
        "{:?}",
        metlog::current_client().map(|c| c.logger().to_owned())
    );

    // The usual order too.
    let ga = metlog::set_default(&a);
    let gb = metlog::set_default(&b);
    drop(gb);
    assert_eq!(metlog::current_client().unwrap().logger(), "A");
    drop(ga);
    assert!(metlog::current_client().is_none());

    hold.send(()).unwrap();
    other.join().unwrap();
}
