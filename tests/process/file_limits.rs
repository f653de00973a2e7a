//! FileSender at a file size limit (`RLIMIT_FSIZE`: the kernel writes what
//! fits, then fails the write — a full disk's partial write, without root).
//! Own process: the limit and `SIGXFSZ` are process-wide.
#![allow(unsafe_code)] // signal(SIGXFSZ, SIG_IGN), setrlimit

use crate::support;

use metlog::sender::FileSender;
use metlog::{Client, Message};

/// Sets the soft file size limit (the hard one is left, so it can be
/// raised again).
fn limit_file_size(bytes: libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reading and setting this process's own limit with a valid
    // struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

/// A message that does not fit is failed and counted, the part of it
/// written taken back; once there is room, the next message is a line of
/// its own (it was appended to the cut line: counted sent, unreadable).
#[test]
fn a_line_that_does_not_fit_leaves_no_cut_line() {
    support::in_own_process(
        &support::test_name!(a_line_that_does_not_fit_leaves_no_cut_line),
        &[],
        || {
            support::collect_reports();
            // SAFETY: ignoring a signal: writes beyond the limit fail
            // (EFBIG) instead of killing the process.
            unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
            let dir = std::env::temp_dir().join(format!("metlog-fsize-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("out.json");
            let client = Client::builder("app")
                .sender(FileSender::open(&path).unwrap())
                .build();
            client.info("first");
            let before = std::fs::read_to_string(&path).unwrap();
            limit_file_size(before.len() as libc::rlim_t + 40);
            client.info("x".repeat(500).as_str());
            let stats = client.stats();
            assert_eq!((stats.sent, stats.failed), (1, 1), "{stats:?}");
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                before,
                "no cut line left"
            );
            let reports = support::reports();
            assert!(
                reports.iter().any(|r| r.contains("taken back")),
                "{reports:?}"
            );

            limit_file_size(libc::RLIM_INFINITY);
            client.info("third");
            let text = std::fs::read_to_string(&path).unwrap();
            let payloads: Vec<String> = text
                .lines()
                .map(|l| {
                    Message::from_json(l)
                        .unwrap_or_else(|e| panic!("{e}: {l}"))
                        .payload
                        .to_string()
                })
                .collect();
            assert_eq!(payloads, ["first", "third"]);
            assert_eq!(client.stats().sent, 2);
            std::fs::remove_dir_all(dir).unwrap();
        },
    );
}
