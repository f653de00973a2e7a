//! The macros through the global client, and the process-wide decorator
//! switches (metlog-py's `global_disabled_decorators`). Own process: the
//! global client and the switches are process-wide.

use crate::support;
use metlog::sender::CaptureSender;
use metlog::{Client, Decorator};

#[metlog::timer("g.timer")]
fn timed() {}

#[metlog::incr("g.incr")]
fn counted() {}

fn names(capture: &CaptureSender) -> Vec<String> {
    capture
        .take()
        .iter()
        .map(|m| m.fields["name"].to_string())
        .collect()
}

#[test]
fn global_client_serves_annotations_everywhere_and_decorators_switch_off() {
    support::in_own_process(
        &support::test_name!(global_client_serves_annotations_everywhere_and_decorators_switch_off),
        &[],
        || {
            // Annotated calls before any client exists: no-ops.
            timed();
            counted();

            let capture = CaptureSender::new();
            metlog::set_global_client(Client::builder("global").sender(capture.clone()).build())
                .unwrap();

            // Configured at startup, annotations anywhere (any thread) report to it.
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for _ in 0..250 {
                            timed();
                            counted();
                        }
                    });
                }
            });
            assert_eq!(capture.len(), 2_000);
            capture.clear();

            // metlog-py's names…
            metlog::set_disabled_decorators(["timeit"]).unwrap();
            timed();
            counted();
            assert_eq!(names(&capture), ["g.incr"]);

            metlog::set_disabled_decorators(["incr_count"]).unwrap();
            timed();
            counted();
            assert_eq!(names(&capture), ["g.timer"]);

            // … and ours.
            metlog::set_disabled_decorators(["timer", "incr"]).unwrap();
            timed();
            counted();
            assert!(names(&capture).is_empty());

            // An unknown name changes nothing and says which name is wrong.
            let err = metlog::set_disabled_decorators(["timeit", "incr_cnt"]).unwrap_err();
            assert!(err.to_string().contains("\"incr_cnt\""), "{err}");
            assert!(!metlog::is_decorator_enabled(Decorator::Timer));

            metlog::set_disabled_decorators(Vec::<String>::new()).unwrap();
            metlog::set_decorator_enabled(Decorator::Incr, false);
            timed();
            counted();
            assert_eq!(names(&capture), ["g.timer"]);
            metlog::set_decorator_enabled(Decorator::Incr, true);
            counted();
            assert_eq!(names(&capture), ["g.incr"]);
        },
    );
}
