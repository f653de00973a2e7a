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
use std::process::{Command, Stdio};
use std::time::Duration;

use metlog::sender::TcpSender;
use metlog::Client;

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

#[test]
fn a_tcp_peer_that_pauses_gets_everything_once() {
    if std::env::var("METLOG_TEST_CHILD").is_ok() {
        return peer();
    }
    let out = std::env::temp_dir().join(format!("metlog-tcp-pause-{}", std::process::id()));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            support::test_name!(a_tcp_peer_that_pauses_gets_everything_once).as_str(),
            "--nocapture",
        ])
        .env("METLOG_TEST_CHILD", "peer")
        .env("METLOG_TEST_OUT", &out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().unwrap().unwrap();
        if let Ok(port) = line.trim().parse() {
            break port;
        }
    };
    signal(child.id(), libc::SIGSTOP);
    let client = Client::builder("paused")
        .sender(TcpSender::new(("127.0.0.1", port)).unwrap())
        .build();
    let text = "p".repeat(1_000);
    for i in 0..20_000 {
        client
            .metlog("paused")
            .payload(format!("{i} {text}"))
            .send();
    }
    // Several times as long as a write waits (2 s; the kernel keeps taking
    // a little as the send buffer grows, so one wait is not enough): the
    // sender is in the middle of a chunk.
    std::thread::sleep(Duration::from_secs(9));
    signal(child.id(), libc::SIGCONT);
    if let Err(e) = client.flush_timeout(Duration::from_secs(20)) {
        panic!("not all delivered to the peer, which reads its first connection: {e}");
    }
    let stats = client.stats();
    drop(client);
    let another: String = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success());
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
        (20_000, 20_000),
        "{stats:?}"
    );
}
