//! A program whose stdout metlog writes to (the default `StdoutSender`),
//! forking while a thread logs: the children's own `println!` must not hang.
//! std's `Stdout` lock, held by metlog's writer while it wrote a batch, was
//! copied held into the child, where no thread would ever release it. Runs
//! in a child process of this test binary (it forks, and writes to stdout).
#![allow(unsafe_code)] // fork, waitpid, kill

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{self, children};

/// The child's side: log from a thread, fork, count children that hang.
fn forker() {
    metlog::set_global_client(metlog::Client::builder("forker").build()).unwrap();
    std::thread::spawn(|| loop {
        metlog::incr("busy");
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut hung = 0;
    for _ in 0..40 {
        // SAFETY: the child prints and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            println!("the child prints");
            // SAFETY: ends the child without running the parent's exit work.
            unsafe { libc::_exit(0) };
        }
        // A child that has not printed and left within a minute hangs (the
        // first one is enough to tell).
        if children::wait_or_kill(pid, support::PATIENCE) == children::Ended::Hung {
            hung += 1;
            break;
        }
    }
    eprintln!("hung={hung}");
    // SAFETY: ends without the exit work, which would wait for the logger.
    unsafe { libc::_exit(0) };
}

#[test]
fn a_forked_child_can_print_while_metlog_writes_stdout() {
    if std::env::var("METLOG_TEST_CHILD").is_ok() {
        return forker();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            support::test_name!(a_forked_child_can_print_while_metlog_writes_stdout).as_str(),
            "--nocapture",
        ])
        .env("METLOG_TEST_CHILD", "forker")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A slow reader: the writer often waits on the pipe, holding whatever
    // it holds.
    let mut stdout = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while matches!(stdout.read(&mut buf), Ok(n) if n > 0) {
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let output = child.wait_with_output().unwrap();
    drain.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hung=0"), "{stderr}");
}
