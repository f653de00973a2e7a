//! `get_client` with ever-new names: unconfigured names are remembered up
//! to `1_024`, not for ever (a million names once took
//! 356 MB that were never released). Own process: it fills the registry.

use crate::support;

#[test]
fn unconfigured_names_are_kept_up_to_a_limit() {
    support::in_own_process(
        &support::test_name!(unconfigured_names_are_kept_up_to_a_limit),
        &[],
        || {
            for i in 0..20_000 {
                let client = metlog::get_client(&format!("name-{i}"));
                assert!(!client.is_active());
                assert_eq!(client.logger(), format!("name-{i}"));
            }
            assert!(
                metlog::named_client("name-0").is_some(),
                "the first are kept"
            );
            let kept = (0..20_000)
                .filter(|i| metlog::named_client(&format!("name-{i}")).is_some())
                .count();
            assert_eq!(kept, 1_024);

            // Configured clients are always kept, and still found.
            let active = metlog::Client::builder("db")
                .sender(metlog::sender::NullSender)
                .build();
            metlog::set_client("db", active);
            assert!(metlog::get_client("db").is_active());
        },
    );
}

/// metlog-py's `set_default_client_name`: the global client follows a
/// named client — replaced with it, cleared when it is removed — until the
/// global client is set another way.
#[test]
fn the_global_client_follows_the_default_client_name() {
    support::in_own_process(
        &support::test_name!(the_global_client_follows_the_default_client_name),
        &[],
        || {
            use metlog::sender::CaptureSender;
            let named = |capture: &CaptureSender| {
                metlog::Client::builder("db")
                    .sender(capture.clone())
                    .build()
            };
            let (first, second, third) = (
                CaptureSender::new(),
                CaptureSender::new(),
                CaptureSender::new(),
            );
            // A name nobody registered: no global client until one is.
            assert!(metlog::set_default_client_name("db").is_none());
            assert_eq!(metlog::default_client_name().as_deref(), Some("db"));
            metlog::incr("nobody");
            metlog::set_client("db", named(&first));
            metlog::incr("first");
            metlog::set_client("db", named(&second));
            metlog::incr("second");
            assert_eq!((first.len(), second.len()), (1, 1));
            // Removing it clears the global client.
            assert!(metlog::remove_client("db").is_some());
            assert!(metlog::global_client().is_none());
            assert_eq!(metlog::default_client_name(), None);
            metlog::incr("gone");
            assert_eq!(second.len(), 1);
            // Replaced by hand, the global client follows the name no more.
            metlog::set_client("db", named(&first));
            metlog::set_default_client_name("db");
            metlog::replace_global_client(named(&third));
            metlog::set_client("db", named(&second));
            metlog::incr("third");
            assert_eq!((first.len(), second.len(), third.len()), (1, 1, 1));
        },
    );
}
