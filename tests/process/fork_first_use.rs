//! Forks while other threads make something metlog makes once per process
//! (the process's identity, the clock's calibration, the named-client
//! registry, the panic hook of `#[metlog::capture_stack]`): the child of a
//! fork made meanwhile must not wait for it half made (each hung children:
//! the identity 1 suite run in 5, the clock 20 tries of 20, the registry 19
//! of 100, the hook 7 of 100). Each try is a fresh process: the races are
//! on the first making.
#![allow(unsafe_code)] // fork

use std::sync::{Arc, Barrier};

use crate::support::{self, children};

use children::Ended;
use metlog::sender::{from_fn, NullSender};
use metlog::Client;

/// The mode of the fresh processes.
const RACE: &str = "first-use-race";

/// What the other threads do first, and the child after them.
#[derive(Clone, Copy)]
enum First {
    /// Build messages (the identity).
    Message,
    /// Build a client (the clock's calibration).
    Client,
    /// Look up a named client (the registry).
    NamedClient,
    /// Panic in an annotated function (the hook).
    CapturedPanic,
}

#[metlog::capture_stack]
fn panics() {
    panic!("first");
}

impl First {
    const ALL: [First; 4] = [
        First::Message,
        First::Client,
        First::NamedClient,
        First::CapturedPanic,
    ];

    fn run(self, client: Option<&Client>) {
        match self {
            First::Message => client.expect("a client").info("first"),
            First::Client => drop(Client::builder("first").sender(NullSender).build()),
            First::NamedClient => drop(metlog::get_client("first")),
            First::CapturedPanic => assert!(std::panic::catch_unwind(panics).is_err()),
        }
    }
}

#[test]
fn a_child_forked_while_a_first_use_is_made_goes_on() {
    if let Ok(mode) = std::env::var("METLOG_TEST_FIRST") {
        if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok(RACE) {
            return race(First::ALL[mode.parse::<usize>().unwrap()]);
        }
    }
    let test = support::test_name!(a_child_forked_while_a_first_use_is_made_goes_on);
    for mode in 0..First::ALL.len() {
        for _ in 0..25 {
            support::run_child(&test, RACE, &[("METLOG_TEST_FIRST", &mode.to_string())]);
        }
    }
}

/// Threads do `first` at once while this one forks; every child does it
/// too, and exits.
fn race(first: First) {
    std::panic::set_hook(Box::new(|_| {}));
    // Made before the race only where needed: its making calibrates the
    // clock. Every message it sends is built (which reads the identity).
    let client = matches!(first, First::Message)
        .then(|| Client::builder("race").sender(from_fn(|_| Ok(()))).build());
    let start = Arc::new(Barrier::new(3));
    let others: Vec<_> = (0..2)
        .map(|_| {
            let (start, client) = (start.clone(), client.clone());
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..50 {
                    first.run(client.as_ref());
                }
            })
        })
        .collect();
    start.wait();
    let mut hung = 0;
    for _ in 0..10 {
        // SAFETY: the child only calls into metlog and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            first.run(client.as_ref());
            std::process::exit(0);
        }
        assert!(pid > 0, "fork failed");
        if let Ended::Hung = children::wait_or_kill(pid, support::PATIENCE) {
            hung += 1;
            break;
        }
    }
    for other in others {
        other.join().unwrap();
    }
    assert_eq!(hung, 0, "a forked child waited for something half made");
}
