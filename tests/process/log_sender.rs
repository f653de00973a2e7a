//! LogSender hands messages to the `log` crate with metlog-py's
//! StdLibLoggingSender rules. Own process: it installs a logger.

use crate::support;

use std::sync::Mutex;

use metlog::sender::LogSender;
use metlog::{Client, Severity};

struct Recorder(Mutex<Vec<(log::Level, String, String)>>);

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push((
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder(Mutex::new(Vec::new()));

#[test]
fn payload_types_as_text_json_types_as_envelopes_others_ignored() {
    support::in_own_process(
        &support::test_name!(payload_types_as_text_json_types_as_envelopes_others_ignored),
        &[],
        || {
            support::collect_reports();
            log::set_logger(&RECORDER).unwrap();
            log::set_max_level(log::LevelFilter::Trace);

            let client = Client::builder("app")
                .sender(LogSender::new().target("svc").json_types(["counter"]))
                .build();
            client.critical("c");
            client.warn("w");
            client.log(Severity::Notice, "n");
            client.debug("d");
            client.incr("hits");
            client.metlog("custom").send(); // neither list: ignored

            let records = RECORDER.0.lock().unwrap().clone();
            let levels: Vec<log::Level> = records.iter().map(|r| r.0).collect();
            use log::Level;
            assert_eq!(
                levels,
                [
                    Level::Error,
                    Level::Warn,
                    Level::Info,
                    Level::Debug,
                    Level::Info
                ]
            );
            assert!(records.iter().all(|r| r.1 == "svc"));
            assert_eq!(records[0].2, "c");
            let json: serde_json::Value = serde_json::from_str(&records[4].2).unwrap();
            assert_eq!(json["fields"]["name"], "hits");
            let stats = client.stats();
            assert_eq!((stats.sent, stats.ignored), (5, 1));
        },
    );
}
