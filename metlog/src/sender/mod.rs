//! Senders: where messages go once the client has built and filtered them.
//!
//! A [`Sender`] has one required method, [`send`](Sender::send), and a defaulted
//! [`flush`](Sender::flush). The client never lets a sender's failure reach the
//! caller: an `Err` (or even a panic) is counted in
//! [`Client::stats`](crate::Client::stats) and reported once on stderr.
//!
//! | sender | delivers to | typical use |
//! |---|---|---|
//! | [`CaptureSender`] | memory, typed | tests: assert on what was sent |
//! | [`StdoutSender`] | stdout, one JSON object per line | development, containers |
//! | [`StreamSender`] | any `io::Write` | pipes, buffers, custom sinks |
//! | [`FileSender`] | a file, appended | local logs |
//! | [`NullSender`] | nowhere | benchmarks, switching output off |
//! | [`from_fn`] | a closure | adapting to anything else |
//!
//! Write your own by implementing the trait:
//!
//! ```
//! use metlog::sender::{SendError, Sender};
//! use metlog::Message;
//!
//! struct Stderr;
//! impl Sender for Stderr {
//!     fn send(&self, message: Message) -> Result<(), SendError> {
//!         eprintln!("{}", message.to_json());
//!         Ok(())
//!     }
//! }
//! let client = metlog::Client::builder("app").sender(Stderr).build();
//! client.incr("started");
//! ```

mod capture;
mod error;
mod null;
mod stream;

use std::sync::Arc;

pub use capture::CaptureSender;
pub use error::{SendError, SendErrorKind};
pub use null::NullSender;
pub use stream::{FileSender, StdoutSender, StreamSender};

use crate::Message;

/// Delivers messages.
///
/// Implementations must be cheap to call from any thread: `send` runs on the
/// thread that made the message unless a queuing sender moves it elsewhere.
pub trait Sender: Send + Sync + 'static {
    /// Delivers (or queues) one message.
    ///
    /// Return an error rather than panic: the client counts it (see
    /// [`SendErrorKind`] for which counter) and carries on.
    fn send(&self, message: Message) -> Result<(), SendError>;

    /// Pushes out anything buffered. The default does nothing.
    fn flush(&self) -> Result<(), SendError> {
        Ok(())
    }
}

impl<S: Sender + ?Sized> Sender for Arc<S> {
    fn send(&self, message: Message) -> Result<(), SendError> {
        (**self).send(message)
    }
    fn flush(&self) -> Result<(), SendError> {
        (**self).flush()
    }
}

impl<S: Sender + ?Sized> Sender for Box<S> {
    fn send(&self, message: Message) -> Result<(), SendError> {
        (**self).send(message)
    }
    fn flush(&self) -> Result<(), SendError> {
        (**self).flush()
    }
}

/// A sender made from a closure.
///
/// ```
/// use std::sync::mpsc;
/// let (tx, rx) = mpsc::channel();
/// let tx = std::sync::Mutex::new(tx);
/// let sender = metlog::sender::from_fn(move |msg| {
///     tx.lock().unwrap().send(msg).map_err(|_| metlog::sender::SendError::closed())
/// });
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.incr("x");
/// assert_eq!(rx.recv().unwrap().kind, "counter");
/// ```
pub fn from_fn<F>(f: F) -> FnSender<F>
where
    F: Fn(Message) -> Result<(), SendError> + Send + Sync + 'static,
{
    FnSender(f)
}

/// The sender returned by [`from_fn`].
pub struct FnSender<F>(F);

impl<F> Sender for FnSender<F>
where
    F: Fn(Message) -> Result<(), SendError> + Send + Sync + 'static,
{
    fn send(&self, message: Message) -> Result<(), SendError> {
        (self.0)(message)
    }
}

impl<F> std::fmt::Debug for FnSender<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnSender")
    }
}
