//! The child of a fork writes with the default sender, `StdoutSender`, even
//! when another thread of the parent held stdout's lock at the fork (the
//! lock stays held in the child, by a thread that does not exist there):
//! the child reopens standard output. Own process (it forks).
#![allow(unsafe_code)] // fork, waitpid, _exit

use crate::support;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn a_forked_child_writes_to_stdout_even_if_its_lock_was_held() {
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("fork-stdout") {
        return parent_with_a_held_stdout();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            support::test_name!(a_forked_child_writes_to_stdout_even_if_its_lock_was_held).as_str(),
            "--nocapture",
        ])
        .env("METLOG_TEST_CHILD", "fork-stdout")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    let from_child = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["fields"]["name"] == "from.child")
        .count();
    assert_eq!(from_child, 10, "stdout:\n{stdout}\nstderr:\n{stderr}");
}

fn parent_with_a_held_stdout() {
    let client = metlog::Client::builder("forked")
        .sender(metlog::sender::StdoutSender::new())
        .build();
    metlog::set_global_client(client.clone()).unwrap();
    // A thread holding stdout's lock, as one in the middle of a write does
    // (until this process leaves), from before the fork: it says when it
    // holds it (this slept 200 ms once, and the lock was maybe not held).
    let (holding, held) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _held = std::io::stdout().lock();
        holding.send(()).unwrap();
        loop {
            std::thread::park();
        }
    });
    held.recv().unwrap();
    // SAFETY: the child only runs metlog and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        for _ in 0..10 {
            metlog::incr("from.child");
        }
        let flushed = client.flush_timeout(Duration::from_secs(10));
        // SAFETY: ends the child without the parent's exit work.
        unsafe { libc::_exit(if flushed.is_ok() { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    eprintln!("grandchild status {status}");
    // SAFETY: leaves without the exit work (stdout's lock is still held).
    unsafe { libc::_exit(if ok { 0 } else { 1 }) };
}
