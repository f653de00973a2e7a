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
