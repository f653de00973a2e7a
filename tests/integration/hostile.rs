//! Hostile input the client and its senders meet beyond the encoders (whose
//! own hostile-input tests are in `metlog/src/encode/hostile_tests.rs`).

use crate::support;

/// A field value nested 20,000 arrays deep once overflowed the stack of a
/// background sender's worker (the process died). Now it is refused at the
/// queue — counted as failed and reported — and the worker carries on.
#[test]
fn a_deeply_nested_value_is_refused_not_fatal_to_the_worker() {
    support::collect_reports();
    // Building and dropping such a value recurses on this side too: a big
    // stack for the test's own thread.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            receiver
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let sender = metlog::sender::UdpSender::new(receiver.local_addr().unwrap()).unwrap();
            let client = metlog::Client::builder("deep").sender(sender).build();
            let mut deep = serde_json::json!(1);
            for _ in 0..20_000 {
                deep = serde_json::Value::Array(vec![deep]);
            }
            client.counter("deep").field("v", deep.clone()).send();
            client.metlog("deep").field("v", deep).send();
            let mut shallow = serde_json::json!(1);
            for _ in 0..100 {
                shallow = serde_json::Value::Array(vec![shallow]);
            }
            client.counter("shallow").field("v", shallow).send();
            client.flush();
            let stats = client.stats();
            assert_eq!((stats.failed, stats.sent), (2, 1), "{stats:?}");
            let mut buf = vec![0u8; 65_536];
            let n = receiver.recv(&mut buf).unwrap();
            let got: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
            assert_eq!(got["fields"]["name"], "shallow");
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(support::reports()
        .iter()
        .any(|r| r.contains("nests deeper than 100 levels")));
}

/// A synchronous sender meets the same nesting limit: a counter carrying a
/// value 50,000 arrays deep to a capture once overflowed the caller's stack
/// while its message was copied (the process died), and a blocking stdout
/// or a file wrote JSON no reader accepts. Deeper than `MAX_NESTING` is
/// refused for every sender, counted failed. (This thread's big stack is
/// for building and dropping the value, which recurses in any code.)
#[test]
fn a_deeply_nested_value_is_refused_by_synchronous_senders_too() {
    support::collect_reports();
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let capture = metlog::sender::CaptureSender::new();
            let client = metlog::Client::builder("deep")
                .sender(capture.clone())
                .build();
            let mut deep = serde_json::json!(1);
            for _ in 0..50_000 {
                deep = serde_json::Value::Array(vec![deep]);
            }
            client.counter("deep").field("v", deep).send();
            assert_eq!(capture.len(), 0);
            assert_eq!(client.stats().failed, 1, "{:?}", client.stats());
        })
        .unwrap()
        .join()
        .unwrap();
}
