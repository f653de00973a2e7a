//! A fork while another thread holds one of metlog's process-wide locks (the
//! named-client registry): the child must not inherit it held — there the
//! thread holding it does not exist, and the child's exit (which flushes the
//! named clients) or its own `get_client` would wait for ever. Own process
//! (it forks).
#![allow(unsafe_code)] // fork, waitpid, kill

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{self, children};

use children::Ended;
use metlog::sender::NullSender;
use metlog::Client;

#[test]
fn a_child_forked_while_the_registry_is_busy_exits() {
    support::in_own_process(
        &support::test_name!(a_child_forked_while_the_registry_is_busy_exits),
        &[],
        || {
            let client = Client::builder("forked").sender(NullSender).build();
            metlog::set_global_client(client.clone()).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let churn = {
                let (stop, client) = (stop.clone(), client.clone());
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        metlog::set_client(format!("n{}", i % 7), client.clone());
                        let _ = metlog::get_client("unconfigured");
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(50));
            let mut hung = 0;
            for _ in 0..40 {
                // SAFETY: the child only calls into metlog and exits.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    metlog::incr("child");
                    let _ = metlog::get_client("n1");
                    std::process::exit(0);
                }
                assert!(pid > 0, "fork failed");
                match children::wait_or_kill(pid, support::PATIENCE) {
                    Ended::Exited(code) => assert_eq!(code, 0),
                    Ended::Hung => hung += 1,
                }
                if hung > 0 {
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            churn.join().unwrap();
            assert_eq!(hung, 0, "a forked child hung on a lock held at the fork");
        },
    );
}
