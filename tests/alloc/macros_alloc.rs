//! An enabled annotated call on a static name does not allocate on the
//! caller's thread; a call with no client, a disabled timer or a sampled-out
//! call neither. Counted by a global allocator (own process).

use metlog::sender::NullSender;
use metlog::Client;

use crate::support::counting::allocations_during;

#[metlog::timer]
fn timed_default_name(x: u64) -> u64 {
    x + 1
}

#[metlog::incr("alloc.incr")]
fn counted() -> Result<(), ()> {
    Ok(())
}

#[metlog::timer("alloc.disabled")]
fn disabled() {}

#[metlog::timer("alloc.sampled", rate = 0.0)]
fn sampled_out() {}

#[test]
fn annotated_calls_do_not_allocate_on_the_callers_thread() {
    // No client anywhere.
    assert_eq!(
        allocations_during(|| {
            for i in 0..1_000 {
                timed_default_name(i);
                let _ = counted();
            }
        }),
        0
    );

    let client = Client::builder("alloc")
        .sender(NullSender)
        .disabled_timers(["alloc.disabled"])
        .build();
    metlog::set_global_client(client).unwrap();

    // The first call of a default-named function builds its name once.
    timed_default_name(0);
    let n = allocations_during(|| {
        for i in 0..1_000 {
            timed_default_name(i);
            let _ = counted();
            disabled();
            sampled_out();
        }
    });
    assert_eq!(n, 0, "{n} allocations in 4,000 annotated calls");
    assert_eq!(metlog::global_client().unwrap().stats().sent, 2_001);
}

#[test]
fn queued_delivery_does_not_allocate_on_the_callers_thread_once_warm() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = metlog::sender::UdpSender::new(receiver.local_addr().unwrap()).unwrap();
    let client = Client::builder("alloc").sender(sender).build();
    metlog::with_client(&client, || {
        // Warm-up: the queue's buffers grow to their working size once.
        for _ in 0..3 {
            for _ in 0..1_000 {
                let _ = counted();
            }
            client.flush();
        }
        let mut total = 0;
        for _ in 0..3 {
            total += allocations_during(|| {
                for _ in 0..1_000 {
                    let _ = counted();
                }
            });
            client.flush();
        }
        assert_eq!(total, 0, "{total} allocations in 3,000 queued calls");
    });
    let stats = client.stats();
    assert_eq!((stats.sent, stats.dropped, stats.failed), (6_000, 0, 0));
}
