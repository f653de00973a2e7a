//! The worker side of a [`QueuedSender`](super::QueuedSender): the
//! [`Transport`] trait, the [`Batch`] it is handed, and the [`Outcome`] it
//! reports what became of them to.
//!
//! A transport reports counts, not message identities: each message handed
//! to it is counted once whatever it reports — a report beyond what it holds
//! is ignored (and said once, as a bug of the transport) — and a transport
//! that panics loses the messages of its batch it had not reported.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Instant;

use super::SendError;
use crate::envelope::Envelope;
use crate::record::{ClientDefaults, Stored};

/// The worker side of a [`QueuedSender`](super::QueuedSender): turns batches
/// of messages into I/O, on the sender's own thread.
///
/// Every network sender of this crate is a `QueuedSender` around a
/// `Transport`; a transport of your own gets the same queue by implementing
/// this trait:
///
/// ```
/// use metlog::sender::{Batch, Outcome, QueueConfig, QueuedSender, SendError, Transport};
/// use std::io::Write;
///
/// /// Writes each message's JSON line to stderr.
/// struct Stderr;
///
/// impl Transport for Stderr {
///     fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
///         for message in batch.iter() {
///             let line = metlog::Message::from(message).to_json() + "\n";
///             match std::io::stderr().write_all(line.as_bytes()) {
///                 Ok(()) => outcome.delivered(1),
///                 Err(e) => outcome.failed(1, &SendError::io("stderr", e)),
///             }
///         }
///     }
/// }
///
/// let sender = QueuedSender::new("stderr", Stderr, QueueConfig::default())?;
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.incr("started");
/// client.flush();
/// assert_eq!(client.stats().sent, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Transport: Send + 'static {
    /// Delivers (or keeps for later) a batch, reporting through `outcome`
    /// how many messages were delivered, failed or dropped. Messages it
    /// keeps (a backlog while disconnected) are reported when they are
    /// finally delivered or lost, in the order they were handed over; until
    /// then they count as queued. If it panics, the messages of the batch
    /// it had not reported are counted as failed.
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome);

    /// Called when the queue has been idle for a while: retry backlogs,
    /// reconnect. The default does nothing.
    fn idle(&mut self, outcome: &Outcome) {
        let _ = outcome;
    }

    /// Called once at shutdown, after the queue is drained: deliver what is
    /// held if possible before `deadline`, and report the rest as failed.
    /// The default does nothing.
    fn close(&mut self, outcome: &Outcome, deadline: Instant) {
        let _ = (outcome, deadline);
    }
}

/// Messages for a [`Transport`] to deliver, read in place from the queue.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    items: &'a [Stored],
    clients: &'a [Arc<ClientDefaults>],
}

impl<'a> Batch<'a> {
    pub(crate) fn new(items: &'a [Stored], clients: &'a [Arc<ClientDefaults>]) -> Batch<'a> {
        Batch { items, clients }
    }

    /// How many messages.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The messages, in the order they were queued (per sending thread).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Envelope<'a>> + use<'a> {
        let clients = self.clients;
        self.items
            .iter()
            .map(move |stored| stored.envelope(&clients[stored.client as usize]))
    }
}

/// What a sender's transport did with the messages it was handed: counted
/// per sender, read by [`Sender::delivery`](super::Sender::delivery).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) name: String,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) error_reported: AtomicBool,
    pub(crate) misuse_reported: AtomicBool,
}

impl Tally {
    /// Messages delivered, failed or dropped so far.
    pub(crate) fn settled(&self) -> u64 {
        self.delivered.load(SeqCst) + self.failed.load(SeqCst) + self.dropped.load(SeqCst)
    }
}

/// Where a [`Transport`] reports what became of the messages it was handed.
#[derive(Debug)]
pub struct Outcome {
    tally: Arc<Tally>,
    /// Handed to the transport and not reported yet.
    open: Cell<u64>,
}

impl Outcome {
    pub(crate) fn new(tally: Arc<Tally>) -> Outcome {
        Outcome {
            tally,
            open: Cell::new(0),
        }
    }

    /// Counts up to `n` of the open messages in `counter`; returns how many.
    fn settle(&self, n: usize, counter: &AtomicU64) -> u64 {
        let open = self.open.get();
        let n = n as u64;
        if n > open && !self.tally.misuse_reported.swap(true, Relaxed) {
            crate::report::report(format_args!(
                "{}: its transport reported more messages than it was handed; the excess is \
                 ignored (each message is counted once)",
                self.tally.name
            ));
        }
        let n = n.min(open);
        self.open.set(open - n);
        counter.fetch_add(n, SeqCst);
        n
    }

    /// `n` messages were handed on (written to the socket).
    #[inline]
    pub fn delivered(&self, n: usize) {
        self.settle(n, &self.tally.delivered);
    }

    /// `n` messages were refused for lack of room (e.g. ZeroMQ's high-water
    /// mark): counted as dropped, not reported.
    pub fn dropped(&self, n: usize) {
        self.settle(n, &self.tally.dropped);
    }

    /// `n` messages were lost to `error`: counted as failed; the sender's
    /// first failure is reported ([`crate::report`]).
    pub fn failed(&self, n: usize, error: &SendError) {
        if self.settle(n, &self.tally.failed) > 0 && !self.tally.error_reported.swap(true, Relaxed)
        {
            crate::report::report(format_args!(
                "{} failed to deliver: {error}; further failures are only counted \
                 (see Client::stats)",
                self.tally.name
            ));
        }
    }

    /// `n` more messages are handed to the transport.
    pub(crate) fn open(&self, n: usize) {
        self.open.set(self.open.get() + n as u64);
    }

    /// How many handed to the transport are not reported yet.
    pub(crate) fn unreported(&self) -> usize {
        self.open.get() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_settles_once() {
        let tally = Arc::new(Tally {
            name: "t".into(),
            ..Tally::default()
        });
        let outcome = Outcome::new(tally.clone());
        outcome.open(3);
        outcome.delivered(2);
        outcome.delivered(2);
        assert_eq!(tally.delivered.load(SeqCst), 3, "never more than handed");
        outcome.failed(1, &SendError::closed());
        assert_eq!(tally.settled(), 3);
    }
}
