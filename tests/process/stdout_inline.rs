//! StdoutSender when its writer thread cannot start: it writes on the
//! caller's thread, and the client's stats count what it wrote and what
//! failed (they counted nothing). Own process: an address space limit
//! (no room for a thread's stack) and standard output redirected.
#![allow(unsafe_code)] // setrlimit, dup, dup2

use crate::support;

use std::os::fd::AsRawFd;

use metlog::sender::StdoutSender;
use metlog::{Client, Message};

/// Lowers the soft address space limit to what is mapped now and 1 MiB: a
/// thread's stack can no longer be mapped.
fn leave_no_room_for_a_thread() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let mapped_kib: libc::rlim_t = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let mut rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reading and setting this process's own limit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut rlimit), 0);
        rlimit.rlim_cur = (mapped_kib + 1024) * 1024;
        assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &rlimit), 0);
    }
}

/// Runs `body` with standard output (descriptor 1) going to `file`.
fn with_stdout_to(file: &std::fs::File, body: impl FnOnce()) {
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    // SAFETY: duplicating descriptors this process owns; descriptor 1 is
    // put back before returning.
    let saved = unsafe { libc::dup(1) };
    assert!(saved >= 0);
    assert_eq!(unsafe { libc::dup2(file.as_raw_fd(), 1) }, 1);
    body();
    assert_eq!(unsafe { libc::dup2(saved, 1) }, 1);
    unsafe { libc::close(saved) };
}

#[test]
fn writing_inline_when_the_thread_cannot_start_is_counted() {
    support::in_own_process(
        &support::test_name!(writing_inline_when_the_thread_cannot_start_is_counted),
        &[],
        || {
            support::collect_reports();
            let path = std::env::temp_dir().join(format!("metlog-stdout-{}", std::process::id()));
            let out = std::fs::File::create(&path).unwrap();
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            let client = Client::builder("app").sender(StdoutSender::new()).build();
            leave_no_room_for_a_thread();
            with_stdout_to(&out, || {
                for i in 0..3 {
                    client.info(format!("inline-{i}").as_str());
                }
                client.flush();
            });
            with_stdout_to(&full, || {
                client.info("to a full stdout");
                client.info("and another");
                let _ = std::io::Write::flush(&mut std::io::stdout());
            });
            let stats = client.stats();
            assert_eq!((stats.sent, stats.failed), (3, 2), "{stats:?}");
            assert_eq!(stats.produced(), 5, "{stats:?}");
            let written = std::fs::read_to_string(&path).unwrap();
            let payloads: Vec<String> = written
                .lines()
                .map(|l| Message::from_json(l).unwrap().payload.to_string())
                .collect();
            assert_eq!(payloads, ["inline-0", "inline-1", "inline-2"]);
            let reports = support::reports();
            assert!(
                reports
                    .iter()
                    .any(|r| r.contains("cannot start the writer thread")),
                "{reports:?}"
            );
            std::fs::remove_file(&path).unwrap();
        },
    );
}
