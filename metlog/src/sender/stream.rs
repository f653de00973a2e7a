//! Line-per-message senders: [`StdoutSender`], [`StreamSender`], [`FileSender`].

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::background::{QueueConfig, QueuedSender};
use super::transport::{Batch, Outcome, Transport};
use super::{Delivery, SendError, SendErrorKind, Sender};
use crate::encode::json;
use crate::{Envelope, Record};

/// The message as one compact JSON object and a newline (NDJSON: what
/// routers read), or `pretty`, indented for people.
fn encode_line(message: Envelope<'_>, pretty: bool) -> Vec<u8> {
    let mut buf = Vec::with_capacity(320);
    if pretty {
        json::write_pretty(message, &mut buf);
    } else {
        json::write(message, &mut buf);
    }
    buf.push(b'\n');
    buf
}

/// Writes each message to standard output as one line of JSON (metlog-py's
/// `StdOutSender`).
///
/// Written from a background thread, like the network senders: when stdout
/// stalls (a pipe nobody reads), the caller never waits — the queue fills
/// and further messages are dropped and counted
/// ([`Stats::dropped`](crate::Stats::dropped)). The thread starts with the
/// first message. [`StdoutSender::blocking`] writes on the caller's thread
/// instead, for those who want to wait. Should the thread not start (a
/// thread or memory limit reached), that is reported and the messages are
/// written on the caller's thread, counted as a blocking sender's are.
///
/// The thread writes through a descriptor of its own, never holding std's
/// `Stdout` lock (held across a `fork()`, it would hang the child's first
/// `println!`), each line whole when it is at most 4,096 bytes. The
/// program's own `println!` lines are whole too unless longer than std's
/// 1 KiB line buffer: std writes those in pieces, and a metlog line can land
/// between them. Where the program prints such lines to the same stdout,
/// [`blocking`](StdoutSender::blocking) writes under std's lock, in order
/// with them.
///
/// ```
/// let client = metlog::Client::builder("app")
///     .sender(metlog::sender::StdoutSender::new())
///     .build();
/// client.info("to stdout");
/// ```
#[derive(Debug, Default)]
pub struct StdoutSender {
    pretty: bool,
    blocking: bool,
    /// The queue and its writer thread, made on first use (`None` inside
    /// when the thread could not be started: then written inline).
    queued: OnceLock<Option<QueuedSender>>,
}

impl StdoutSender {
    /// Compact output: one JSON object per line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indented, multi-line JSON per message, easier to read by eye (not for
    /// routers, which expect one object per line).
    pub fn pretty() -> Self {
        StdoutSender {
            pretty: true,
            ..Self::default()
        }
    }

    /// Writes on the caller's thread: a stalled stdout makes the caller
    /// wait.
    pub fn blocking(mut self) -> Self {
        self.blocking = true;
        self
    }

    /// The background queue, unless writing inline.
    fn queued(&self) -> Option<&QueuedSender> {
        if self.blocking {
            return None;
        }
        let pretty = self.pretty;
        let transport = move || Ok(StdoutTransport::new(pretty));
        self.queued
            .get_or_init(|| {
                QueuedSender::with_factory("stdout", transport, QueueConfig::default())
                    .inspect_err(|e| {
                        crate::report::report(format_args!(
                            "stdout: cannot start the writer thread ({e}): writing on the \
                             caller's thread instead"
                        ));
                    })
                    .ok()
            })
            .as_ref()
    }
}

impl Sender for StdoutSender {
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        if let Some(queued) = self.queued() {
            return queued.send(record);
        }
        // One `write_all` under the lock keeps lines from different threads
        // whole.
        io::stdout()
            .lock()
            .write_all(&encode_line(record.envelope(), self.pretty))
            .map_err(|e| SendError::io("cannot write to stdout", e))
    }

    /// Waits for the queue (its writer flushes stdout after each batch);
    /// writing inline, flushes stdout — which waits for its lock, as
    /// `println!` does. The queued flush never takes stdout's lock, so a
    /// thread stuck writing to a full stdout cannot hang it (or the exit).
    fn flush(&self) -> Result<(), SendError> {
        self.flush_timeout(QueueConfig::default().flush_timeout)
    }

    fn flush_timeout(&self, timeout: std::time::Duration) -> Result<(), SendError> {
        match self.queued.get() {
            Some(Some(queued)) => queued.flush_timeout(timeout),
            None if !self.blocking => Ok(()),
            _ => io::stdout()
                .flush()
                .map_err(|e| SendError::io("cannot flush stdout", e)),
        }
    }

    /// Counts kept by the queue; `None` when writing inline — blocking, or
    /// because the writer thread could not start — as the client counts
    /// then what each write did.
    fn delivery(&self) -> Option<Delivery> {
        match self.queued.get() {
            _ if self.blocking => None,
            Some(Some(queued)) => queued.delivery(),
            Some(None) => None,
            None => Some(Delivery::default()),
        }
    }
}

/// The background writer of [`StdoutSender`].
struct StdoutTransport {
    pretty: bool,
    /// Standard output through a descriptor of its own: writing through
    /// std's `Stdout` would hold its lock while a batch is written, and a
    /// `fork()` meanwhile would leave it held for ever in the child (where
    /// this thread does not exist), hanging the child's first `println!`.
    own: Option<File>,
    /// A batch's lines, written in pieces of at most [`PIECE`] bytes.
    piece: Vec<u8>,
}

/// Writes of at most this many bytes (POSIX's `PIPE_BUF`) reach a pipe
/// whole, never interleaved with another writer's: a metlog line up to it
/// is never cut by the program's own prints. (A `println!` line longer than
/// std's 1 KiB line buffer is written by std in pieces, between which a
/// metlog line can land: see [`StdoutSender`].)
const PIECE: usize = 4096;

impl StdoutTransport {
    fn new(pretty: bool) -> StdoutTransport {
        // A descriptor of standard output's own (where none can be had,
        // std's `Stdout` is written).
        #[cfg(unix)]
        let own = std::os::fd::AsFd::as_fd(&io::stdout())
            .try_clone_to_owned()
            .ok()
            .map(File::from);
        #[cfg(not(unix))]
        let own = None;
        StdoutTransport {
            pretty,
            own,
            piece: Vec::with_capacity(PIECE),
        }
    }

    /// Writes the piece gathered so far; the fate of the lines in it.
    fn write_piece(&mut self, lines: usize, outcome: &Outcome) {
        let written = match &mut self.own {
            Some(file) => file.write_all(&self.piece),
            None => io::stdout().lock().write_all(&self.piece),
        };
        match written {
            Ok(()) => outcome.delivered(lines),
            Err(e) => outcome.failed(lines, &SendError::io("cannot write to stdout", e)),
        }
        self.piece.clear();
    }
}

impl Transport for StdoutTransport {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        let mut lines = 0;
        for message in batch.iter() {
            let line = encode_line(message, self.pretty);
            if !self.piece.is_empty() && self.piece.len() + line.len() > PIECE {
                self.write_piece(std::mem::take(&mut lines), outcome);
            }
            self.piece.extend_from_slice(&line);
            lines += 1;
        }
        if !self.piece.is_empty() {
            self.write_piece(lines, outcome);
        }
    }
}

/// Writes each message as one line of JSON to any [`io::Write`].
///
/// The writer is behind a mutex; each message is written with one
/// `write_all`, so lines from different threads never interleave. Written
/// on the caller's thread: a writer that blocks makes the caller wait (for
/// output that may stall, put a [`Transport`] of your own in a
/// [`QueuedSender`]).
///
/// ```
/// use std::io::Write;
/// let sender = metlog::sender::StreamSender::new(std::io::stderr());
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.warn("to stderr");
/// ```
#[derive(Debug)]
pub struct StreamSender<W> {
    writer: Mutex<W>,
    pretty: bool,
}

impl<W: Write + Send + 'static> StreamSender<W> {
    /// Compact output, one JSON object per line.
    pub fn new(writer: W) -> Self {
        StreamSender {
            writer: Mutex::new(writer),
            pretty: false,
        }
    }

    /// Indented, multi-line JSON per message.
    pub fn pretty(writer: W) -> Self {
        StreamSender {
            pretty: true,
            ..Self::new(writer)
        }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.writer
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W: Write + Send + 'static> Sender for StreamSender<W> {
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        let line = encode_line(record.envelope(), self.pretty);
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer
            .write_all(&line)
            .map_err(|e| SendError::io("cannot write to stream", e))
    }

    fn flush(&self) -> Result<(), SendError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer
            .flush()
            .map_err(|e| SendError::io("cannot flush stream", e))
    }
}

/// Appends each message as one line of JSON to a file (metlog-py's
/// `FileSender`), creating it if needed. Written on the caller's thread (a
/// regular file does not stall; a FIFO nobody reads would make the caller
/// wait).
///
/// Each line is written with a single `write` on a file opened in append
/// mode, so several processes can share one file without interleaving lines.
///
/// - **Whole lines only.** A line that does not fit (a full disk, a file
///   size limit) is cut off again — the file is truncated back to where
///   the line began — and the message counted
///   [`failed`](crate::Stats::failed) and reported: the next message, once
///   there is room, starts a line of its own. (Should another process
///   append to the same file in the instant between the cut write and its
///   undoing, its line goes too.)
/// - **Log rotation.** Both of logrotate's ways work. `create` (the file is
///   renamed and a new one made at the path): at most once a second, and
///   before the first write after that, the sender checks whether the path
///   still names the file it has open, and if not opens (creating) the
///   file at the path — so messages go to the old file for at most a
///   second after the rename. Should the path not open (its directory
///   removed, say): while the old file still has a name, messages go on
///   into it; once it has none (deleted), they are refused and counted
///   failed — not written where nobody reads them — until the path opens
///   again (tried once a second). `copytruncate`
///   (the file is copied, then truncated in place): writes in append mode
///   continue at the new end, with no hole. No `postrotate` signal is
///   needed.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("metlog-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("metlog.json");
/// let sender = metlog::sender::FileSender::open(&path)?;
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.info("to a file");
/// assert!(std::fs::read_to_string(&path)?.contains("to a file"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct FileSender {
    path: PathBuf,
    open: Mutex<OpenFile>,
}

/// How often [`FileSender`] checks that its path still names the file it
/// writes (logrotate's `create` mode renames it away).
const ROTATION_CHECK: Duration = Duration::from_secs(1);

/// The file a [`FileSender`] writes, and when it last checked the path.
#[derive(Debug)]
struct OpenFile {
    file: File,
    checked: Instant,
    /// A cut line could not be undone: the next line starts with a newline,
    /// so that it, at least, is whole.
    cut: bool,
    /// The open file was deleted (its directory too, say) and the path
    /// cannot be opened again: why. Messages are refused (counted failed)
    /// rather than written where nobody will read them.
    lost: Option<String>,
}

/// Whether `file` has no name left on disk (every link to it removed).
fn deleted(file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata().is_ok_and(|m| m.nlink() == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        false
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Whether `path` names `file` (the same device and inode); `true` when
/// that cannot be told.
fn names(path: &Path, file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), file.metadata()) {
            (Ok(at_path), Ok(open)) => at_path.dev() == open.dev() && at_path.ino() == open.ino(),
            // Renamed away and not (yet) replaced: a new file is made.
            (Err(e), _) if e.kind() == io::ErrorKind::NotFound => false,
            _ => true,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        true
    }
}

/// Writes `line` whole, or not at all: when a write fails part-way, `undo`
/// is given the number of bytes that went and must take them back. The
/// error says whether that worked.
fn write_whole<W: Write>(
    writer: &mut W,
    line: &[u8],
    undo: impl FnOnce(&mut W, u64) -> io::Result<()>,
) -> io::Result<()> {
    let mut written = 0;
    while written < line.len() {
        let error = match writer.write(&line[written..]) {
            Ok(0) => io::Error::new(io::ErrorKind::WriteZero, "no room for the line"),
            Ok(n) => {
                written += n;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => e,
        };
        if written == 0 {
            return Err(error);
        }
        return match undo(writer, written as u64) {
            Ok(()) => Err(io::Error::new(
                error.kind(),
                format!("{error} (the part of the line written was taken back)"),
            )),
            Err(e) => Err(io::Error::new(
                error.kind(),
                format!("{error}, and the cut line could not be taken back: {e}"),
            )),
        };
    }
    Ok(())
}

impl FileSender {
    /// Opens `path` for appending, creating the file if it does not exist.
    ///
    /// The error keeps the I/O error's kind and names the path, e.g.
    /// `cannot open metlog file "/var/log/app.json": Permission denied`.
    pub fn open(path: impl AsRef<Path>) -> io::Result<FileSender> {
        let path = path.as_ref();
        let file = open_append(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open metlog file {}: {e}", path.display()),
            )
        })?;
        Ok(FileSender {
            path: path.to_path_buf(),
            open: Mutex::new(OpenFile {
                file,
                checked: Instant::now(),
                cut: false,
                lost: None,
            }),
        })
    }

    /// The path the sender appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, reopened first if the path names another file now
    /// (checked at most every [`ROTATION_CHECK`]).
    fn file(&self) -> std::sync::MutexGuard<'_, OpenFile> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.checked.elapsed() >= ROTATION_CHECK {
            open.checked = Instant::now();
            if !names(&self.path, &open.file) {
                match open_append(&self.path) {
                    Ok(file) => {
                        open.file = file;
                        open.cut = false;
                        open.lost = None;
                    }
                    // Renamed away (rotated), the old file still keeps
                    // what is written to it; deleted, nothing would.
                    Err(e) if deleted(&open.file) => {
                        open.lost = Some(format!(
                            "{} was deleted and cannot be made again ({e}); the message was \
                             not written",
                            self.path.display()
                        ));
                    }
                    Err(_) => {}
                }
            }
        }
        open
    }
}

impl Sender for FileSender {
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        let mut line = encode_line(record.envelope(), false);
        let mut open = self.file();
        if let Some(why) = &open.lost {
            return Err(SendError::new(SendErrorKind::Io, why.clone()));
        }
        if open.cut {
            line.insert(0, b'\n');
        }
        // Appending: the cut part is the file's last bytes.
        let mut left_cut = false;
        let undo = |file: &mut &File, cut: u64| {
            let taken_back = file
                .metadata()
                .and_then(|m| file.set_len(m.len().saturating_sub(cut)));
            left_cut = taken_back.is_err();
            taken_back
        };
        let written = write_whole(&mut &open.file, &line, undo);
        // A cut line left behind stays cut until a line ends it.
        open.cut = written.is_err() && (open.cut || left_cut);
        written.map_err(|e| SendError::io(format!("cannot write to {}", self.path.display()), e))
    }

    fn flush(&self) -> Result<(), SendError> {
        (&self.file().file)
            .flush()
            .map_err(|e| SendError::io(format!("cannot flush {}", self.path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk with room for `room` more bytes, then ENOSPC.
    struct SmallDisk {
        bytes: Vec<u8>,
        room: usize,
    }

    impl Write for SmallDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room);
            if n == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.room -= n;
            self.bytes.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn take_back(disk: &mut SmallDisk, cut: u64) -> io::Result<()> {
        let keep = disk.bytes.len() - cut as usize;
        disk.bytes.truncate(keep);
        disk.room += cut as usize;
        Ok(())
    }

    #[test]
    fn a_line_that_does_not_fit_is_taken_back_whole() {
        let mut disk = SmallDisk {
            bytes: b"{\"a\":1}\n".to_vec(),
            room: 5,
        };
        let err = write_whole(&mut disk, b"{\"b\":22}\n", take_back).unwrap_err();
        assert_eq!(err.raw_os_error(), None, "the kind is kept: {err:?}");
        assert_eq!(err.kind(), io::Error::from_raw_os_error(28).kind());
        assert!(err.to_string().contains("taken back"), "{err}");
        assert_eq!(disk.bytes, b"{\"a\":1}\n", "no cut line");
        // Room again: the next line is a line of its own.
        disk.room = 100;
        write_whole(&mut disk, b"{\"c\":3}\n", take_back).unwrap();
        assert_eq!(disk.bytes, b"{\"a\":1}\n{\"c\":3}\n");
    }

    #[test]
    fn a_cut_line_that_cannot_be_taken_back_is_said() {
        let mut disk = SmallDisk {
            bytes: Vec::new(),
            room: 3,
        };
        let refuse = |_: &mut SmallDisk, _| Err(io::Error::other("read-only"));
        let err = write_whole(&mut disk, b"{\"b\":22}\n", refuse).unwrap_err();
        assert!(
            err.to_string()
                .contains("could not be taken back: read-only"),
            "{err}"
        );
    }

    #[test]
    fn nothing_written_needs_nothing_taken_back() {
        let mut disk = SmallDisk {
            bytes: Vec::new(),
            room: 0,
        };
        let never = |_: &mut SmallDisk, _| -> io::Result<()> { panic!("nothing to undo") };
        let err = write_whole(&mut disk, b"{}\n", never).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28));
    }
}
