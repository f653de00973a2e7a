//! A TCP peer that stops reading for longer than a write waits (a router
//! paused: a GC pause, a `SIGSTOP`), then reads again: every message arrives
//! once, on one connection, every line whole. The sender once gave up the
//! connection mid-chunk and sent the chunk again on a new one — a cut line
//! on the first, and the chunk's start twice. The peer is a child process
//! of this test binary, stopped with `SIGSTOP` while the sender writes.
#![allow(unsafe_code)] // kill(SIGSTOP / SIGCONT)

use crate::support;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use metlog::sender::TcpSender;
use metlog::Client;

/// Messages sent to the paused peer, and the size of each: 20 MB, far more
/// than the socket buffers take, and fewer messages than the worker takes
/// in one batch (512), so that it has taken them all once it waits on the
/// peer.
const MESSAGES: u64 = 500;
const SIZE: usize = 40_000;

/// The peer: prints its port, reads the first connection to its end into
/// the file named by `METLOG_TEST_OUT`, then says whether another came.
fn peer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut received = Vec::new();
    conn.read_to_end(&mut received).unwrap();
    std::fs::write(std::env::var("METLOG_TEST_OUT").unwrap(), &received).unwrap();
    listener.set_nonblocking(true).unwrap();
    println!("another={}", listener.accept().is_ok());
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
}

/// The peer's process, killed if the test fails while it is stopped (it
/// would hold this process's output open, and its parent waiting, for ever).
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a thread of this process is doing, as `/proc/self/task/<tid>/syscall`
/// says: the system call it is in (its number and arguments), or `None`
/// when it is running.
fn system_call(thread: &std::path::Path) -> Option<Vec<i64>> {
    let text = std::fs::read_to_string(thread.join("syscall")).ok()?;
    text.split_whitespace()
        .map(|field| match field.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok().map(|n| n as i64),
            None => field.parse().ok(),
        })
        .collect()
}

/// Waits until a write of the sender's worker (the thread named `thread`)
/// to the paused peer has given up: the write timeout, with the worker in
/// the middle of a chunk, which it must finish on the same connection.
///
/// Told from the worker's system calls: it is seen writing to the peer
/// (`sendto`), then seen between rounds — napping (`nanosleep`) or parked
/// with a timeout (`futex`), which it does only once its transport has
/// returned — and from before the one to after the other not one more
/// message was counted sent. A chunk finished would have been counted at
/// once: the transport returned with its chunk unfinished, which it does
/// only when a write waited longer than the write timeout for the peer to
/// read.
///
/// (This slept 9 s instead: several times as long as a write waits — 2 s,
/// and the kernel keeps taking a little as the send buffer grows, so one
/// wait is not always enough — which a busy machine could still make too
/// short. Without `/proc/self/task/<tid>/syscall` it still does.)
fn a_write_to_the_peer_gives_up(client: &Client, thread: &str) {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    let worker: Vec<std::path::PathBuf> = tasks
        .map(|task| task.unwrap().path())
        .filter(|task| {
            std::fs::read_to_string(task.join("comm")).is_ok_and(|comm| comm.trim() == thread)
        })
        .collect();
    assert_eq!(worker.len(), 1, "one thread named {thread}: {worker:?}");
    let worker = &worker[0];
    if std::fs::read_to_string(worker.join("syscall")).is_err() {
        std::thread::sleep(Duration::from_secs(9));
        return;
    }
    // `sent` when the worker was last seen writing (read just before).
    let mut writing_since: Option<u64> = None;
    support::wait_until("a write to the paused peer to give up", || {
        let sent = client.stats().sent;
        let Some(call) = system_call(worker) else {
            return false; // running
        };
        let writing = [libc::SYS_sendto, libc::SYS_write].contains(&call[0]);
        let between_rounds = [libc::SYS_nanosleep, libc::SYS_clock_nanosleep].contains(&call[0])
            // futex(addr, op, value, timeout, …): a wait with a timeout.
            || (call[0] == libc::SYS_futex && call.get(4).is_some_and(|&timeout| timeout != 0));
        if writing {
            writing_since = Some(sent);
        } else if between_rounds {
            let gave_up = writing_since.is_some_and(|before| client.stats().sent == before);
            writing_since = None;
            return gave_up;
        }
        false
    });
}

#[test]
fn a_tcp_peer_that_pauses_gets_everything_once() {
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("peer") {
        return peer();
    }
    // In a process of its own, where the sender's worker is the one thread
    // named `metlog-tcp` (the one watched for the write timeout).
    support::in_own_process(
        &support::test_name!(a_tcp_peer_that_pauses_gets_everything_once),
        &[],
        || {
            let out = std::env::temp_dir().join(format!("metlog-tcp-pause-{}", std::process::id()));
            let mut child = Peer(
                Command::new(std::env::current_exe().unwrap())
                    .args([
                        "--exact",
                        support::test_name!(a_tcp_peer_that_pauses_gets_everything_once).as_str(),
                        "--nocapture",
                    ])
                    .env("METLOG_TEST_CHILD", "peer")
                    .env("METLOG_TEST_OUT", &out)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
            let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
            let port: u16 = loop {
                let line = lines.next().unwrap().unwrap();
                if let Ok(port) = line.trim().parse() {
                    break port;
                }
            };
            signal(child.0.id(), libc::SIGSTOP);
            let client = Client::builder("paused")
                .sender(TcpSender::new(("127.0.0.1", port)).unwrap())
                .build();
            let text = "p".repeat(SIZE);
            for i in 0..MESSAGES {
                client
                    .metlog("paused")
                    .payload(format!("{i} {text}"))
                    .send();
            }
            // The peer reads nothing for longer than a write waits: the
            // sender is in the middle of a chunk.
            a_write_to_the_peer_gives_up(&client, "metlog-tcp");
            signal(child.0.id(), libc::SIGCONT);
            if let Err(e) = client.flush_timeout(support::PATIENCE) {
                panic!("not all delivered to the peer, which reads its first connection: {e}");
            }
            let stats = client.stats();
            drop(client);
            let another: String = lines.map_while(Result::ok).collect();
            assert!(child.0.wait().unwrap().success());
            let received = std::fs::read(&out).unwrap();
            let _ = std::fs::remove_file(&out);
            assert!(
                another.contains("another=false"),
                "a second connection was opened: {another}"
            );
            let mut seen = HashSet::new();
            for line in received.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let message: serde_json::Value = serde_json::from_slice(line).unwrap_or_else(|e| {
                    panic!("a cut line ({e}): {}", String::from_utf8_lossy(&line[..60]))
                });
                let payload = message["payload"].as_str().unwrap();
                let n: u64 = payload.split(' ').next().unwrap().parse().unwrap();
                assert!(seen.insert(n), "message {n} arrived twice");
            }
            assert_eq!(seen.len() as u64, stats.sent, "{stats:?}");
            assert_eq!(
                (stats.sent, stats.produced()),
                (MESSAGES, MESSAGES),
                "{stats:?}"
            );
        },
    );
}
