//! ZmqSender with few descriptors (or no thread) left: libzmq asserts —
//! aborting the process — when it cannot make the descriptors or threads a
//! context needs; the sender checks first and returns an error. Each case
//! runs in a child process of this test binary, its `RLIMIT_NOFILE`
//! lowered so that exactly so many descriptors are free.
#![allow(unsafe_code)] // setrlimit

use crate::support;

use std::collections::HashSet;
use std::process::Command;

use metlog::sender::ZmqSender;

/// Lowers the soft descriptor limit so that exactly `free` descriptor
/// numbers are free below it.
fn leave_free_descriptors(free: usize) {
    let listed: Vec<usize> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // Less the directory's own descriptor, listed and closed again.
    let open: HashSet<usize> = listed
        .into_iter()
        .filter(|fd| std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists())
        .collect();
    let mut limit = 0;
    let mut unused = 0;
    while unused < free || open.contains(&limit) {
        if !open.contains(&limit) {
            unused += 1;
        }
        limit += 1;
    }
    let mut rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reading and setting this process's own limit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlimit), 0);
        rlimit.rlim_cur = limit as libc::rlim_t;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit), 0);
    }
}

/// Lowers the soft address space limit to what is mapped now and a
/// little: a thread's stack (8 MiB) can no longer be mapped, so no thread
/// can start.
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
        rlimit.rlim_cur = (mapped_kib + 4096) * 1024;
        assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &rlimit), 0);
    }
}

/// The child: `METLOG_TEST_FREE` descriptors free (or, for "threads", no
/// room for a thread), then a sender made, used and dropped; prints what
/// `new` said.
fn child(free: &str) {
    match free {
        "threads" => leave_no_room_for_a_thread(),
        free => leave_free_descriptors(free.parse().unwrap()),
    }
    match ZmqSender::new(["tcp://127.0.0.1:1"]) {
        Ok(sender) => {
            let client = metlog::Client::builder("limits").sender(sender).build();
            client.incr("x");
            drop(client);
            println!("result=ok");
        }
        Err(e) => println!("result=error {e}"),
    }
}

/// Runs the child for `free`: how it ended and what `new` said.
fn run(test: &str, free: &str) -> (std::process::Output, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("METLOG_TEST_FREE", free)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result = stdout.split("result=").nth(1).unwrap_or("").lines().next();
    let result = result.unwrap_or("").to_owned();
    (output, result)
}

/// From none to twelve descriptors free: `new` returns an error saying so,
/// or works, and the process never aborts (libzmq asserted, aborting, with
/// 4, 5 or 7 free).
#[test]
fn few_descriptors_left_is_an_error_not_an_abort() {
    if let Ok(free) = std::env::var("METLOG_TEST_FREE") {
        return child(&free);
    }
    let test = support::test_name!(few_descriptors_left_is_an_error_not_an_abort);
    for free in 0..=12 {
        let (output, result) = run(&test, &free.to_string());
        assert!(output.status.success(), "{free} free: {output:?}");
        if free <= 7 {
            assert!(
                result.contains("file descriptors needed"),
                "{free} free: {result}"
            );
            assert!(result.contains("ulimit -n"), "{free} free: {result}");
        }
        if free >= 12 {
            assert_eq!(result, "ok", "{free} free");
        }
    }
}

/// No thread can start: `new` returns an error (libzmq asserted,
/// aborting).
#[test]
fn no_thread_for_zeromq_is_an_error_not_an_abort() {
    if let Ok(free) = std::env::var("METLOG_TEST_FREE") {
        return child(&free);
    }
    let test = support::test_name!(no_thread_for_zeromq_is_an_error_not_an_abort);
    let (output, result) = run(&test, "threads");
    assert!(output.status.success(), "{output:?}");
    assert!(result.contains("cannot start the 2 threads"), "{result}");
}
