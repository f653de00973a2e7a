//! [`CaptureSender`]: keeps messages in memory, for tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{SendError, Sender};
use crate::{Message, Record};

/// Keeps messages in memory so tests can assert on them (metlog-py's
/// `DebugCaptureSender`, typed).
///
/// Clones share one buffer: give one clone to the client, keep another to
/// inspect. Always synchronous: a message is visible as soon as the call that
/// made it returns. Bounded: once [`capacity`](CaptureSender::capacity)
/// messages are held, further ones are refused (counted as *dropped* by the
/// client, and by [`dropped`](CaptureSender::dropped)) until
/// [`clear`](CaptureSender::clear) or [`take`](CaptureSender::take) —
/// or, made by [`ring`](CaptureSender::ring), the oldest are forgotten to
/// make room, as metlog-py's `DebugCaptureSender` (a `deque(maxlen=100)`)
/// keeps the newest 100: configured under that class name, a capture is
/// such a ring of 100. A test tool, not fork-safe: the child of a fork made
/// while another thread sends through it finds it locked for ever.
///
/// ```
/// use metlog::sender::CaptureSender;
/// let capture = CaptureSender::new();
/// let client = metlog::Client::builder("test").sender(capture.clone()).build();
/// client.incr("hits");
/// let msgs = capture.messages();
/// assert_eq!(msgs[0].kind, "counter");
/// assert_eq!(msgs[0].fields["name"], "hits");
/// assert_eq!(capture.json()[0]["payload"], "1");
/// ```
#[derive(Clone, Debug)]
pub struct CaptureSender {
    shared: Arc<Mutex<Buffer>>,
}

#[derive(Debug)]
struct Buffer {
    messages: VecDeque<Message>,
    capacity: usize,
    dropped: u64,
    /// Full, forget the oldest rather than refuse the newest.
    ring: bool,
}

impl CaptureSender {
    /// The default capacity: 10,000 messages.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A capture holding up to [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)
    /// messages.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A capture holding up to `capacity` messages.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::build(capacity, false)
    }

    /// A capture holding the newest `capacity` messages: once full, each
    /// new message makes it forget the oldest (counted by
    /// [`dropped`](Self::dropped); the client counts every message sent).
    /// metlog-py's `DebugCaptureSender` is `CaptureSender::ring(100)`.
    ///
    /// ```
    /// use metlog::sender::CaptureSender;
    /// let capture = CaptureSender::ring(2);
    /// let client = metlog::Client::builder("test").sender(capture.clone()).build();
    /// for name in ["a", "b", "c"] {
    ///     client.incr(name);
    /// }
    /// let names: Vec<_> = capture.messages().iter().map(|m| m.fields["name"].to_string()).collect();
    /// assert_eq!(names, ["b", "c"]);
    /// assert_eq!((capture.dropped(), client.stats().sent), (1, 3));
    /// ```
    pub fn ring(capacity: usize) -> Self {
        Self::build(capacity, true)
    }

    fn build(capacity: usize, ring: bool) -> Self {
        CaptureSender {
            shared: Arc::new(Mutex::new(Buffer {
                messages: VecDeque::new(),
                capacity,
                dropped: 0,
                ring,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // Nothing panics while holding the lock; if something ever did, the
        // buffer is still consistent, so keep using it.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies of the captured messages, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.lock().messages.iter().cloned().collect()
    }

    /// The captured messages as JSON values, exactly as a JSON sender would
    /// write them.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lock()
            .messages
            .iter()
            .map(Message::to_json_value)
            .collect()
    }

    /// Removes and returns the captured messages.
    pub fn take(&self) -> Vec<Message> {
        std::mem::take(&mut self.lock().messages).into()
    }

    /// Forgets the captured messages and the dropped count.
    pub fn clear(&self) {
        let mut buffer = self.lock();
        buffer.messages.clear();
        buffer.dropped = 0;
    }

    /// How many messages are held.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many messages the capture holds at most.
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    /// How many messages were refused because the capture was full (for a
    /// [`ring`](Self::ring): forgotten to make room).
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

impl Default for CaptureSender {
    fn default() -> Self {
        Self::new()
    }
}

impl Sender for CaptureSender {
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        let mut buffer = self.lock();
        if buffer.messages.len() >= buffer.capacity && !buffer.ring {
            buffer.dropped += 1;
            return Err(SendError::full());
        }
        buffer.messages.push_back(record.into_message());
        // A ring forgets its oldest (with no room at all, this one).
        if buffer.messages.len() > buffer.capacity {
            buffer.messages.pop_front();
            buffer.dropped += 1;
        }
        Ok(())
    }
}
