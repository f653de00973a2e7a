//! Waiting for a forked child, with a limit, for the tests that fork.
#![allow(unsafe_code)] // waitpid, kill

use std::time::{Duration, Instant};

/// How a forked child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// It was still running after the limit: killed.
    Hung,
}

/// Waits up to `limit` for child `pid`; kills and reaps it after that.
pub fn wait_or_kill(pid: libc::pid_t, limit: Duration) -> Ended {
    let started = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return Ended::Exited(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            });
        }
        if started.elapsed() > limit {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Ended::Hung;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
