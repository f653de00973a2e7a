//! Every enabled metric call — annotated functions, client methods, free
//! functions, guards, log lines — makes no allocation on the caller's thread
//! once the queue is warm, whatever the lifetime of its name: a literal, a
//! `&str` borrowed from a `String`, a `&String` (up to
//! 30 bytes, the documented inline length). Counted by a global allocator, per thread.

use metlog::sender::{NullSender, UdpSender};
use metlog::Client;
use std::time::Duration;

use crate::support::counting::allocations_during;

#[metlog::incr("alloc.annotated.incr")]
fn annotated_incr() {}

#[metlog::timer("alloc.annotated.timer")]
fn annotated_timer() {}

/// One call of every form, each name given as `name` (whatever its type).
fn every_form(client: &Client, name: &str) {
    annotated_incr();
    annotated_timer();
    client.incr(name);
    client.counter(name).count(2).rate(1.0).send();
    drop(client.timer(name));
    client.timer_send(name, Duration::from_millis(3));
    metlog::incr(name);
    drop(metlog::timer(name));
    client.info("a literal log line");
    client.info(name);
}

/// The same forms with a `&String` and a literal.
fn every_form_string(client: &Client, name: &String) {
    client.incr(name);
    client.counter(name).count(2).rate(1.0).send();
    drop(client.timer(name));
    client.timer_send(name, Duration::from_millis(3));
    metlog::incr(name);
    drop(metlog::timer(name));
    client.info(name);
}

fn every_form_literal(client: &Client) {
    client.incr("requests");
    client.counter("requests").count(2).rate(1.0).send();
    drop(client.timer("handler"));
    client.timer_send("handler", Duration::from_millis(3));
    metlog::incr("requests");
    drop(metlog::timer("handler"));
}

/// Calls made per round by the three functions above.
const PER_ROUND: u64 = 10 + 7 + 6;

fn round(client: &Client, owned: &String) {
    every_form(client, owned.as_str());
    every_form_string(client, owned);
    every_form_literal(client);
}

/// Warms `client`'s queue up, then counts the allocations of `rounds`
/// rounds, flushing between batches as a service's worker would drain.
fn count(client: &Client, owned: &String, rounds: u64) -> u64 {
    metlog::with_client(client, || {
        for _ in 0..3 {
            for _ in 0..rounds {
                round(client, owned);
            }
            client.flush();
        }
        let mut total = 0;
        for _ in 0..3 {
            total += allocations_during(|| {
                for _ in 0..rounds {
                    round(client, owned);
                }
            });
            client.flush();
        }
        total
    })
}

#[test]
fn every_call_form_is_allocation_free_through_a_queue() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = UdpSender::new(receiver.local_addr().unwrap()).unwrap();
    let client = Client::builder("alloc").sender(sender).build();
    // Exactly the documented inline length: still copied without allocating.
    let owned = "n".repeat(30);
    let total = count(&client, &owned, 40);
    assert_eq!(
        total,
        0,
        "{total} allocations in {} calls",
        3 * 40 * PER_ROUND
    );
    let stats = client.stats();
    assert_eq!(
        (stats.sent, stats.dropped, stats.failed),
        (6 * 40 * PER_ROUND, 0, 0)
    );
}

#[test]
fn every_call_form_is_allocation_free_to_a_synchronous_sender() {
    let client = Client::builder("alloc").sender(NullSender).build();
    let owned = String::from("requests.by.route");
    let total = count(&client, &owned, 100);
    assert_eq!(
        total,
        0,
        "{total} allocations in {} calls",
        3 * 100 * PER_ROUND
    );
    assert_eq!(client.stats().sent, 6 * 100 * PER_ROUND);
}

/// The documented limit is the real one: a borrowed name longer than
/// `INLINE_TEXT` costs an allocation per queued call (owned text would be
/// moved instead).
#[test]
fn a_longer_borrowed_name_costs_one_allocation() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = UdpSender::new(receiver.local_addr().unwrap()).unwrap();
    let client = Client::builder("alloc").sender(sender).build();
    let long = "n".repeat(31);
    for _ in 0..1_000 {
        client.incr(long.as_str());
    }
    client.flush();
    let n = allocations_during(|| {
        for _ in 0..100 {
            client.incr(long.as_str());
        }
    });
    assert_eq!(n, 100);
}

/// A saturated queue refuses messages at the rate they come: a refusal
/// (counted as dropped) allocates nothing either — its error is static.
#[test]
fn a_full_queue_refuses_without_allocating() {
    use metlog::sender::{Batch, Outcome, QueueConfig, QueuedSender, Transport};
    use std::sync::mpsc;
    use std::sync::Mutex;

    /// Holds its first batch until told to go on: the queue stays full.
    struct Stalled(Mutex<mpsc::Receiver<()>>);
    impl Transport for Stalled {
        fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
            let _ = self.0.lock().unwrap().recv();
            outcome.delivered(batch.len());
        }
    }
    let (go, wait) = mpsc::channel();
    let config = QueueConfig::default().capacity(1);
    let sender = QueuedSender::new("stalled", Stalled(Mutex::new(wait)), config).unwrap();
    let client = Client::builder("alloc").sender(sender).build();
    client.incr("fills.the.queue");
    // Warm: the first refusal may set up what refusals need once.
    client.incr("refused");
    let n = allocations_during(|| {
        for _ in 0..1_000 {
            client.incr("refused");
        }
    });
    assert_eq!(n, 0, "{n} allocations for 1,000 refused messages");
    assert_eq!(client.stats().dropped, 1_001);
    go.send(()).unwrap();
    drop(go);
    client.flush();
    assert_eq!(client.stats().sent, 1);
}
