//! Children of one parent each sample on their own: the sampling generator
//! starts anew in a forked child. It once went on exactly as the parent's,
//! so every child kept (or skipped) the same calls. Own process (it forks).
#![allow(unsafe_code)] // fork, waitpid, _exit

use crate::support;
use metlog::sender::CaptureSender;
use metlog::Client;

#[test]
fn forked_children_sample_independently() {
    support::in_own_process(
        &support::test_name!(forked_children_sample_independently),
        &[],
        || {
            let capture = CaptureSender::new();
            let client = Client::builder("sampled").sender(capture.clone()).build();
            // The parent has drawn: its generator is seeded and under way.
            for _ in 0..10 {
                client.counter("parent").rate(0.5).send();
            }
            let mut kept = 0;
            let children = 60;
            for _ in 0..children {
                // SAFETY: the child samples once and leaves with `_exit`.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    let before = capture.len();
                    client.counter("child").rate(0.5).send();
                    let code = i32::from(capture.len() > before);
                    // SAFETY: ends the child at once (no exit work, no test harness).
                    unsafe { libc::_exit(code) };
                }
                assert!(pid > 0, "fork failed");
                let mut status = 0;
                // SAFETY: waiting for our own child.
                assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
                assert!(libc::WIFEXITED(status));
                kept += libc::WEXITSTATUS(status);
            }
            // Independent draws at 0.5: all 60 alike has a chance of 2 in 2^60.
            assert!(
                0 < kept && kept < children,
                "{kept} of {children} children kept the call"
            );
        },
    );
}
