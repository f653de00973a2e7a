//! The `log` bridge: records become oldstyle envelopes; levels below the
//! maximum are skipped; a sender that logs does not loop. Own process: it
//! installs the `log` logger.

use metlog::sender::{CaptureSender, LogSender, Router};
use metlog::{Client, Severity};

#[test]
fn log_records_become_envelopes_and_never_loop() {
    support::in_own_process(
        &support::test_name!(log_records_become_envelopes_and_never_loop),
        &[],
        || {
            let capture = CaptureSender::new();
            // Counters go to the capture; log lines go back into `log` (LogSender),
            // which would loop forever without the bridge's guard.
            let router = Router::new(LogSender::new()).route(["counter"], capture.clone());
            let looping = Client::builder("svc").sender(router).build();
            metlog::bridge::log::install(looping.clone(), log::LevelFilter::Info).unwrap();
            assert_eq!(log::max_level(), log::LevelFilter::Info);

            log::error!(target: "db", "connection lost after {} retries", 3);
            log::warn!("disk 91% full");
            log::info!("started");
            log::debug!("not sent: below the level");
            // Each record reached the client once and went back into `log` once,
            // where the guard stopped it: three log messages, none looping.
            let stats = looping.stats();
            assert_eq!(stats.sent, 3, "{stats:?}");

            // Now through a capture, to look at the envelopes.
            let capture2 = CaptureSender::new();
            let client = Client::builder("svc").sender(capture2.clone()).build();
            metlog::with_client(&client, || {
                let logger = metlog::bridge::log::MetlogLogger::current(log::LevelFilter::Trace);
                log::Log::log(
                    &logger,
                    &log::Record::builder()
                        .level(log::Level::Warn)
                        .target("payments")
                        .module_path_static(Some("svc::payments"))
                        .file_static(Some("src/payments.rs"))
                        .line(Some(42))
                        .args(format_args!("card {} declined", "visa"))
                        .build(),
                );
            });
            let msg = &capture2.messages()[0];
            assert_eq!(msg.kind, "oldstyle");
            assert_eq!(msg.severity, Severity::Warning);
            assert_eq!(msg.payload, "card visa declined");
            assert_eq!(msg.logger, "svc");
            assert_eq!(msg.fields["target"], "payments");
            assert_eq!(msg.fields["module_path"], "svc::payments");
            assert_eq!(msg.fields["file"], "src/payments.rs");
            assert_eq!(msg.fields["line"], 42);
            for (level, severity) in [
                (log::Level::Error, 3),
                (log::Level::Warn, 4),
                (log::Level::Info, 6),
                (log::Level::Debug, 7),
                (log::Level::Trace, 7),
            ] {
                assert_eq!(metlog::bridge::log::severity(level).as_u8(), severity);
            }
            assert!(capture.is_empty());
        },
    );
}

use crate::support;

/// A `Debug` that returns an error without panicking.
struct Failing;

impl std::fmt::Debug for Failing {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

/// A formatting error in a record's arguments costs the record (counted as
/// failed, reported), never a panic in the code that logged it — through
/// the `log` bridge and the `tracing` layer alike.
#[test]
fn a_display_that_fails_costs_the_record_not_the_caller() {
    support::in_own_process(
        &support::test_name!(a_display_that_fails_costs_the_record_not_the_caller),
        &[],
        || {
            support::collect_reports();
            let capture = CaptureSender::new();
            let client = Client::builder("svc").sender(capture.clone()).build();
            let logger =
                metlog::bridge::log::MetlogLogger::new(client.clone(), log::LevelFilter::Trace);
            let logged = std::panic::catch_unwind(|| {
                log::Log::log(
                    &logger,
                    &log::Record::builder()
                        .level(log::Level::Info)
                        .args(format_args!("x {}", FailingDisplay))
                        .build(),
                );
            });
            assert!(logged.is_ok(), "the caller panicked");
            assert_eq!(capture.len(), 0);
            assert_eq!(client.stats().failed, 1, "{:?}", client.stats());

            use tracing_subscriber::layer::SubscriberExt as _;
            let subscriber = tracing_subscriber::registry()
                .with(metlog::bridge::tracing::MetlogLayer::new(client.clone()));
            let traced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tracing::subscriber::with_default(subscriber, || {
                    tracing::info!(field = ?Failing, "with a failing field");
                    tracing::info!("fine");
                });
            }));
            assert!(traced.is_ok(), "the caller panicked");
            assert_eq!(capture.len(), 1, "{:?}", capture.messages());
            assert_eq!(client.stats().failed, 2, "{:?}", client.stats());
        },
    );
}

struct FailingDisplay;

impl std::fmt::Display for FailingDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

/// A `Display` that logs while its own record is being handed over: the
/// inner record cannot go through (it would loop) — it is dropped and
/// counted, not lost without a trace.
#[test]
fn a_record_logged_from_inside_the_bridge_is_counted_as_dropped() {
    support::in_own_process(
        &support::test_name!(a_record_logged_from_inside_the_bridge_is_counted_as_dropped),
        &[],
        || {
            support::collect_reports();
            struct Chatty<'a>(&'a metlog::bridge::log::MetlogLogger);
            impl std::fmt::Display for Chatty<'_> {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    log::Log::log(
                        self.0,
                        &log::Record::builder()
                            .level(log::Level::Warn)
                            .args(format_args!("logged from inside a Display"))
                            .build(),
                    );
                    f.write_str("chatty")
                }
            }
            let capture = CaptureSender::new();
            let client = Client::builder("svc").sender(capture.clone()).build();
            let logger =
                metlog::bridge::log::MetlogLogger::new(client.clone(), log::LevelFilter::Trace);
            log::Log::log(
                &logger,
                &log::Record::builder()
                    .level(log::Level::Info)
                    .args(format_args!("{}", Chatty(&logger)))
                    .build(),
            );
            assert_eq!(capture.len(), 1);
            let stats = client.stats();
            assert_eq!((stats.sent, stats.dropped), (1, 1), "{stats:?}");
        },
    );
}
