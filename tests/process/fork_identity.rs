//! Forks while other threads make the process's identity (its host name,
//! made on a process's first message): the child of a fork made meanwhile
//! must not wait for a half-made identity (seen: the suite's fork tests
//! hung 1 run in 5, a child waiting on it for ever). Each try is a fresh
//! process, the race being on the identity's first making.
#![allow(unsafe_code)] // fork

use crate::support::{self, children};

use children::Ended;
use metlog::sender::from_fn;
use metlog::Client;

/// The mode of the fresh processes.
const RACE: &str = "identity-race";

#[test]
fn a_child_forked_while_the_identity_is_made_sends() {
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok(RACE) {
        return race();
    }
    let test = support::test_name!(a_child_forked_while_the_identity_is_made_sends);
    for _ in 0..40 {
        support::run_child(&test, RACE, &[]);
    }
}

/// Threads send their first messages (each makes the identity if none
/// did) while this one forks; every child sends and exits.
fn race() {
    // Every message is built (which reads the identity).
    let client = Client::builder("race").sender(from_fn(|_| Ok(()))).build();
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    client.info("parent");
                }
            })
        })
        .collect();
    let mut hung = 0;
    for _ in 0..20 {
        // SAFETY: the child only calls into metlog and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            client.info("child");
            std::process::exit(0);
        }
        assert!(pid > 0, "fork failed");
        if let Ended::Hung = children::wait_or_kill(pid, support::PATIENCE) {
            hung += 1;
            break;
        }
    }
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(hung, 0, "a forked child waited for a half-made identity");
}
