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
