use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What happened to the messages a [`Client`](crate::Client) produced.
///
/// Every message that passed the filters is in exactly one bucket:
/// `sent + dropped + failed + queued + ignored` is the number of messages
/// handed to the sender; `filtered` ones never reached it. With a
/// background sender, `sent` counts messages actually handed to the
/// transport and `queued` those still waiting. Messages skipped by sampling or a disabled
/// timer are never produced and are not counted (counting them would put a
/// shared write on the path that must cost next to nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Accepted by the sender.
    pub sent: u64,
    /// Refused because the sender had no room (e.g. a full queue).
    pub dropped: u64,
    /// Lost to an error in the sender (I/O, encoding, a panic).
    pub failed: u64,
    /// Stopped by one of the client's filters.
    pub filtered: u64,
    /// Accepted by a background sender, not yet delivered.
    pub queued: u64,
    /// Of a type the sender does not carry (e.g. log lines sent to statsd).
    pub ignored: u64,
}

impl Stats {
    /// All messages handed to the sender: `sent + dropped + failed + queued + ignored`.
    pub fn produced(&self) -> u64 {
        self.sent + self.dropped + self.failed + self.queued + self.ignored
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) ignored: AtomicU64,
    /// The forks the process had been through when these counts began: in
    /// the child of a fork they start over, as the child's sender does.
    forks: AtomicU64,
}

impl Counters {
    /// These counts, started over first if this is the child of a fork
    /// since they were last touched.
    #[inline]
    pub(crate) fn here(&self) -> &Counters {
        let forks = crate::process::forks();
        if self.forks.load(Relaxed) != forks {
            self.start_over(forks);
        }
        self
    }

    #[cold]
    fn start_over(&self, forks: u64) {
        for counter in [
            &self.sent,
            &self.dropped,
            &self.failed,
            &self.filtered,
            &self.ignored,
        ] {
            counter.store(0, Relaxed);
        }
        self.forks.store(forks, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let this = self.here();
        Stats {
            sent: this.sent.load(Relaxed),
            dropped: this.dropped.load(Relaxed),
            failed: this.failed.load(Relaxed),
            filtered: this.filtered.load(Relaxed),
            queued: 0,
            ignored: this.ignored.load(Relaxed),
        }
    }
}
