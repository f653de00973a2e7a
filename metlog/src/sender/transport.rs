//! The worker side of a [`QueuedSender`](super::QueuedSender): the
//! [`Transport`] trait, the [`Batch`] it is handed, and the [`Outcome`] it
//! reports each message's fate to.
//!
//! Every message handed to a transport gets a [`Ticket`] of its own. The
//! outcome keeps the tickets not yet reported, so a message is counted once
//! whatever the transport does — a second report, or one for a ticket it
//! never got, is ignored (and reported once as a bug of the transport) — and
//! a transport that panics loses exactly the messages it had not reported.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{
    AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::time::Instant;

use super::owners::{Clients, Counts, Owners};
use super::SendError;
use crate::envelope::Envelope;
use crate::record::{ClientDefaults, Stored};
use crate::Message;

/// The worker side of a [`QueuedSender`](super::QueuedSender): turns batches
/// of messages into I/O, on the sender's own thread.
///
/// Every network sender of this crate is a `QueuedSender` around a
/// `Transport`; a transport of your own gets the same queue by implementing
/// this trait:
///
/// ```
/// use metlog::sender::{Batch, Outcome, QueueConfig, QueuedSender, Transport};
///
/// /// Writes each message's JSON line to stderr.
/// struct Stderr;
///
/// impl Transport for Stderr {
///     fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
///         let mut line = Vec::new();
///         for item in batch.iter() {
///             line.clear();
///             metlog::encode::json::write(item.envelope(), &mut line);
///             line.push(b'\n');
///             match std::io::Write::write_all(&mut std::io::stderr(), &line) {
///                 Ok(()) => outcome.delivered(item.ticket()),
///                 Err(e) => outcome.failed(item.ticket(), &metlog::sender::SendError::io("stderr", e)),
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
    /// Delivers (or keeps for later) a batch, reporting each message's fate
    /// through `outcome` by its [`Ticket`]. Messages it keeps (a backlog
    /// while disconnected) are reported when they are finally delivered or
    /// lost; a message never reported stays counted as queued. If it
    /// panics, the messages of the batch it had not reported are counted as
    /// failed.
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
    clients: &'a Clients,
    /// The ticket of the first item; the others follow.
    first: u64,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(items: &'a [Stored], clients: &'a Clients, first: u64) -> Batch<'a> {
        Batch {
            items,
            clients,
            first,
        }
    }

    /// How many messages.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The messages, in the order their callers sent them (per thread).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Item<'a>> + 'a {
        let (clients, first) = (self.clients, self.first);
        self.items.iter().enumerate().map(move |(at, stored)| Item {
            stored,
            client: clients.get(stored.owner),
            ticket: Ticket(first + at as u64),
        })
    }
}

/// One message of a [`Batch`].
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    stored: &'a Stored,
    client: &'a ClientDefaults,
    ticket: Ticket,
}

impl<'a> Item<'a> {
    /// The message, borrowed: what the encoders read.
    #[inline]
    pub fn envelope(&self) -> Envelope<'a> {
        self.stored.envelope(self.client)
    }

    /// What to report this message's fate with.
    #[inline]
    pub fn ticket(&self) -> Ticket {
        self.ticket
    }

    /// The message, owned (for a transport that needs one; the encoders do
    /// not).
    pub fn to_message(&self) -> Message {
        Message::from(self.envelope())
    }
}

/// Names one message handed to a [`Transport`], to report its fate with
/// (see [`Outcome`]); each is counted once, for the client that sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket(u64);

/// What one queue's transport has done, and its sender's name and reports.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) name: String,
    pub(crate) owners: Owners,
    error_reported: AtomicBool,
    misuse_reported: AtomicBool,
    /// The oldest ticket not reported yet (every one before it is settled):
    /// what a flush waits to pass.
    unsettled_from: AtomicU64,
}

impl Tally {
    pub(crate) fn new(name: String) -> Tally {
        Tally {
            name,
            owners: Owners::new(),
            error_reported: AtomicBool::new(false),
            misuse_reported: AtomicBool::new(false),
            unsettled_from: AtomicU64::new(0),
        }
    }

    /// Every ticket before this one has been reported.
    pub(crate) fn unsettled_from(&self) -> u64 {
        self.unsettled_from.load(Acquire)
    }

    /// Everything delivered, failed or dropped so far.
    pub(crate) fn settled(&self) -> u64 {
        let (delivered, failed, dropped) = self.owners.totals();
        delivered + failed + dropped
    }
}

/// At most this many messages may be out with the transport unreported;
/// beyond it the oldest are counted as failed (a transport that never
/// reports must not make the worker's memory grow without bound).
const MAX_OUTSTANDING: usize = 1 << 22;

/// Tickets handed out and not yet reported: the slot of each, from the
/// oldest outstanding one on.
#[derive(Debug, Default)]
struct Window {
    /// The ticket of `slots[0]`.
    base: u64,
    slots: VecDeque<u32>,
}

/// A reported ticket's place in [`Window::slots`].
const SETTLED: u32 = u32::MAX;

impl Window {
    fn next(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    /// The sending client's slot, if `ticket` was outstanding (it is not
    /// any more).
    fn settle(&mut self, ticket: Ticket) -> Option<u32> {
        let at = usize::try_from(ticket.0.checked_sub(self.base)?).ok()?;
        let slot = std::mem::replace(self.slots.get_mut(at)?, SETTLED);
        if slot == SETTLED {
            return None;
        }
        while self.slots.front() == Some(&SETTLED) {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(slot)
    }
}

/// Counts what a transport did with each message, per sending client, and
/// reports the first error once. Lives on the sender's worker thread.
#[derive(Debug)]
pub struct Outcome {
    tally: std::sync::Arc<Tally>,
    window: RefCell<Window>,
}

enum Fate {
    Delivered,
    Failed,
    Dropped,
}

impl Outcome {
    pub(crate) fn new(tally: std::sync::Arc<Tally>) -> Outcome {
        Outcome {
            tally,
            window: RefCell::new(Window::default()),
        }
    }

    /// Counts `ticket`'s fate, unless it was reported already (or never
    /// handed out): then, unless `quiet`, reports the transport's mistake.
    fn settle(&self, ticket: Ticket, fate: Fate, quiet: bool) -> bool {
        let settled = {
            let mut window = self.window.borrow_mut();
            let slot = window.settle(ticket);
            // Release: a flush that reads it sees the counts before it
            // (once per message on the worker: no full fence).
            self.tally.unsettled_from.store(window.base, Release);
            slot
        };
        let Some(slot) = settled else {
            if !quiet && !self.tally.misuse_reported.swap(true, Relaxed) {
                crate::report::report(format_args!(
                    "{}: its transport reported a message twice, or one it was not handed; \
                     ignored (each message is counted once)",
                    self.tally.name
                ));
            }
            return false;
        };
        self.tally.owners.count(slot, |counts: &Counts| match fate {
            Fate::Delivered => &counts.delivered,
            Fate::Failed => &counts.failed,
            Fate::Dropped => &counts.dropped,
        });
        true
    }

    /// The message was handed to the transport (written to the socket).
    #[inline]
    pub fn delivered(&self, ticket: Ticket) {
        self.settle(ticket, Fate::Delivered, false);
    }

    /// Every message of `batch` was delivered.
    pub fn delivered_all(&self, batch: &Batch<'_>) {
        for item in batch.iter() {
            self.delivered(item.ticket());
        }
    }

    /// The message was refused by the transport for lack of room (e.g.
    /// ZeroMQ's high-water mark): counted as dropped, not reported.
    pub fn dropped(&self, ticket: Ticket) {
        self.settle(ticket, Fate::Dropped, false);
    }

    /// The message was lost to `error`: counted as failed; the sender's
    /// first failure is reported ([`crate::report`]).
    pub fn failed(&self, ticket: Ticket, error: &SendError) {
        self.fail(ticket, error, false);
    }

    fn fail(&self, ticket: Ticket, error: &SendError, quiet: bool) {
        if self.settle(ticket, Fate::Failed, quiet)
            && !self.tally.error_reported.swap(true, Relaxed)
        {
            crate::report::report(format_args!(
                "{} failed to deliver: {error}; further failures are only counted \
                 (see Client::stats)",
                self.tally.name
            ));
        }
    }

    /// The ticket the next message will get: every message handed to the
    /// transport so far has an earlier one.
    pub(crate) fn next_ticket(&self) -> u64 {
        self.window.borrow().next()
    }

    /// Hands out the tickets of `items` (from the next one on); returns the
    /// first. Beyond [`MAX_OUTSTANDING`], the oldest unreported are failed.
    pub(crate) fn open(&self, items: &[Stored]) -> u64 {
        let mut window = self.window.borrow_mut();
        let first = window.next();
        window.slots.extend(items.iter().map(|stored| stored.owner));
        let excess = window.slots.len().saturating_sub(MAX_OUTSTANDING);
        let oldest = window.base;
        drop(window);
        if excess > 0 {
            let error = SendError::new(
                super::SendErrorKind::Other,
                format!("the transport left {MAX_OUTSTANDING} messages unreported"),
            );
            for ticket in oldest..oldest + excess as u64 {
                self.fail(Ticket(ticket), &error, true);
            }
        }
        first
    }

    /// Counts ticket number `ticket` as failed (reporting the sender's
    /// first failure).
    pub(crate) fn fail_ticket(&self, ticket: u64, error: &SendError) {
        self.fail(Ticket(ticket), error, false);
    }

    /// Counts as failed every message of `batch` not reported yet (its
    /// transport panicked).
    pub(crate) fn fail_unreported(&self, batch: &Batch<'_>, error: &SendError) {
        for item in batch.iter() {
            self.fail(item.ticket(), error, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_settles_once() {
        let mut window = Window::default();
        window.slots.extend([3, 4, 5]);
        assert_eq!(window.settle(Ticket(1)), Some(4));
        assert_eq!(window.settle(Ticket(1)), None, "twice");
        assert_eq!(window.settle(Ticket(7)), None, "never handed out");
        assert_eq!((window.base, window.slots.len()), (0, 3));
        assert_eq!(window.settle(Ticket(0)), Some(3));
        assert_eq!(
            (window.base, window.slots.len()),
            (2, 1),
            "settled front goes"
        );
        assert_eq!(window.settle(Ticket(0)), None, "below the window");
        assert_eq!(window.settle(Ticket(2)), Some(5));
        assert!(window.slots.is_empty());
        assert_eq!(window.next(), 3);
    }
}
