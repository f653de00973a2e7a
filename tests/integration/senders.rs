//! The first senders: capture, stream, file, stdout, null; and how a failing
//! sender is reported (once, on stderr) without reaching the caller.

use crate::support;

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use metlog::sender::{CaptureSender, FileSender, NullSender, Sender, StdoutSender, StreamSender};
use metlog::{Client, Message};
use serde_json::Value;

#[test]
fn capture_is_typed_synchronous_and_clearable() {
    let capture = CaptureSender::new();
    assert_eq!(capture.capacity(), 10_000);
    assert!(capture.is_empty());
    let client = Client::builder("app").sender(capture.clone()).build();
    client.incr("a");
    assert_eq!(capture.len(), 1, "visible as soon as the call returns");
    client.info("b");
    let messages = capture.messages();
    assert_eq!(messages[0].kind, "counter");
    assert_eq!(messages[1].payload, "b");
    assert_eq!(capture.json()[1]["payload"], "b");
    assert_eq!(capture.json()[0], messages[0].to_json_value());

    let taken = capture.take();
    assert_eq!(taken.len(), 2);
    assert!(capture.is_empty());
    client.incr("c");
    capture.clear();
    assert!(capture.is_empty());
}

#[test]
fn capture_is_bounded_and_refuses_past_its_capacity() {
    let capture = CaptureSender::with_capacity(3);
    let client = Client::builder("app").sender(capture.clone()).build();
    for i in 0..10 {
        client.counter("n").count(i).send();
    }
    let payloads: Vec<String> = capture
        .messages()
        .iter()
        .map(|m| m.payload.to_string())
        .collect();
    assert_eq!(payloads, ["0", "1", "2"], "the first messages are kept");
    assert_eq!(capture.dropped(), 7);
    assert_eq!(client.stats().dropped, 7);
    capture.clear();
    client.incr("after clear");
    assert_eq!(capture.len(), 1);
}

/// A `Write` whose bytes the test can read while the sender owns it.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);
impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn stream_sender_writes_one_json_object_per_line() {
    let buf = SharedBuf::default();
    let client = Client::builder("app")
        .sender(StreamSender::new(buf.clone()))
        .build();
    client.incr("a");
    client.info("multi\nline");
    let text = buf.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(text.ends_with('\n'));
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed[0]["type"], "counter");
    assert_eq!(parsed[1]["payload"], "multi\nline");
}

#[test]
fn stream_sender_pretty_is_indented_json() {
    let buf = SharedBuf::default();
    let client = Client::builder("app")
        .sender(StreamSender::pretty(buf.clone()))
        .build();
    client.incr("a");
    let text = buf.text();
    assert!(text.lines().count() > 9, "{text}");
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["fields"]["name"], "a");
}

#[test]
fn stream_sender_lines_stay_whole_across_threads() {
    let buf = SharedBuf::default();
    let client = Client::builder("app")
        .sender(StreamSender::new(buf.clone()))
        .build();
    std::thread::scope(|s| {
        for t in 0..4 {
            let client = &client;
            s.spawn(move || {
                for i in 0..200 {
                    client.metlog("line").payload(format!("{t}-{i}")).send();
                }
            });
        }
    });
    let text = buf.text();
    assert_eq!(text.lines().count(), 800);
    for line in text.lines() {
        serde_json::from_str::<Value>(line).expect("each line is one whole object");
    }
}

struct BrokenPipe;
impl Write for BrokenPipe {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
}

#[test]
fn stream_write_errors_are_counted_not_raised() {
    support::collect_reports();
    let client = Client::builder("app")
        .sender(StreamSender::new(BrokenPipe))
        .build();
    client.incr("a");
    client.incr("b");
    client.flush();
    assert_eq!(client.stats().failed, 2);
    assert_eq!(client.stats().sent, 0);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("metlog-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn file_sender_creates_and_appends() {
    let dir = temp_dir("file");
    let path = dir.join("out.json");
    {
        let client = Client::builder("app")
            .sender(FileSender::open(&path).unwrap())
            .build();
        client.incr("first");
    }
    let client = Client::builder("app")
        .sender(FileSender::open(&path).unwrap())
        .build();
    client.incr("second");
    client.flush();
    let text = std::fs::read_to_string(&path).unwrap();
    let names: Vec<String> = text
        .lines()
        .map(|l| Message::from_json(l).unwrap().fields["name"].to_string())
        .collect();
    assert_eq!(names, ["first", "second"], "appended, not truncated");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The payloads of a file of JSON lines; every line must be a whole message.
fn payloads(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let message = Message::from_json(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
            message.payload.to_string()
        })
        .collect()
}

/// logrotate's `create` mode: the file is renamed away and a new one made
/// at the path. New messages go to the new file (they went to the renamed
/// one for ever, and into a deleted file once it was compressed away — all
/// counted sent).
#[test]
fn file_sender_follows_logrotate_create() {
    let dir = temp_dir("rotate-create");
    let path = dir.join("out.json");
    let rotated = dir.join("out.json.1");
    let client = Client::builder("app")
        .sender(FileSender::open(&path).unwrap())
        .build();
    client.info("before");
    std::fs::rename(&path, &rotated).unwrap();
    std::fs::File::create(&path).unwrap();
    let mut sent = 0;
    support::wait_until("a message in the file at the path", || {
        client.info(format!("after-{sent}").as_str());
        sent += 1;
        std::fs::metadata(&path).unwrap().len() > 0
    });
    client.info("last");
    let (old, new) = (payloads(&rotated), payloads(&path));
    // Each message once, in order, the old file's then the new one's.
    let all: Vec<String> = old.iter().chain(&new).cloned().collect();
    let expected: Vec<String> = std::iter::once("before".to_owned())
        .chain((0..sent).map(|i| format!("after-{i}")))
        .chain(std::iter::once("last".to_owned()))
        .collect();
    assert_eq!(all, expected);
    assert_eq!(new.last().map(String::as_str), Some("last"));
    assert_eq!(client.stats().sent, sent + 2);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The file and its directory deleted: once the sender sees the path will
/// not open again, messages are counted failed (they were written into the
/// deleted file, counted sent); when the path can be made again, they go
/// there.
#[test]
fn file_sender_refuses_messages_once_its_file_is_deleted_for_good() {
    let dir = temp_dir("rotate-deleted");
    let path = dir.join("out.json");
    let client = Client::builder("app")
        .sender(FileSender::open(&path).unwrap())
        .build();
    client.info("before");
    std::fs::remove_dir_all(&dir).unwrap();
    support::wait_until("a message refused", || {
        client.info("lost");
        client.stats().failed > 0
    });
    let sent = client.stats().sent;
    client.info("also refused");
    assert_eq!(
        client.stats().sent,
        sent,
        "nothing counted sent into a deleted file"
    );
    std::fs::create_dir_all(&dir).unwrap();
    support::wait_until("the path opened again", || {
        client.info("back");
        std::fs::metadata(&path).is_ok_and(|m| m.len() > 0)
    });
    assert!(payloads(&path).iter().all(|p| p == "back"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// logrotate's `copytruncate` mode: the file is truncated in place, and
/// writes continue at its new end (no hole of zeros before them).
#[test]
fn file_sender_keeps_working_after_copytruncate() {
    let dir = temp_dir("rotate-copytruncate");
    let path = dir.join("out.json");
    let client = Client::builder("app")
        .sender(FileSender::open(&path).unwrap())
        .build();
    client.info("before");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    client.info("after");
    assert!(!std::fs::read(&path).unwrap().contains(&0), "no hole");
    assert_eq!(payloads(&path), ["after"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn file_sender_open_error_names_the_path() {
    let dir = temp_dir("file-error");
    let missing = dir.join("no/such/dir/out.json");
    let err = FileSender::open(&missing).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let text = err.to_string();
    assert!(text.contains("no/such/dir/out.json"), "{text}");
    assert!(text.starts_with("cannot open metlog file"), "{text}");

    let err = FileSender::open(&dir).unwrap_err(); // a directory
    assert!(err.to_string().contains(&*dir.to_string_lossy()), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn null_sender_accepts_everything() {
    let client = Client::builder("app").sender(NullSender).build();
    client.incr("x");
    assert_eq!(client.stats().sent, 1);
    assert!(NullSender.send(Message::new("t", "l").into()).is_ok());
}

#[test]
fn senders_compose_through_arc_and_box() {
    let capture = CaptureSender::new();
    let shared: Arc<dyn Sender> = Arc::new(capture.clone());
    let boxed: Box<dyn Sender> = Box::new(shared.clone());
    let client = Client::builder("app").sender(boxed).build();
    client.incr("x");
    assert_eq!(capture.len(), 1);
}

// ---- tests that need their own process (stdout, stderr) ----

fn child_mode() -> Option<String> {
    std::env::var("METLOG_TEST_CHILD").ok()
}

#[test]
fn child_process_entry() {
    match child_mode().as_deref() {
        Some("stdout") => {
            let client = Client::builder("child").sender(StdoutSender::new()).build();
            client.incr("to.stdout");
            client.info("hello");
            client.flush();
        }
        Some("default") => {
            // No sender configured: the development default is stdout.
            let client = Client::builder("child").build();
            client.incr("default.sender");
        }
        Some("failing") => {
            let client = Client::builder("child")
                .sender(metlog::sender::from_fn(|_| {
                    Err(metlog::sender::SendError::io(
                        "cannot reach router",
                        io::ErrorKind::ConnectionRefused.into(),
                    ))
                }))
                .build();
            for _ in 0..1000 {
                client.incr("lost");
            }
            assert_eq!(client.stats().failed, 1000);
        }
        Some("statsd-logs") => {
            let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let statsd = metlog::sender::StatsdSender::new(peer.local_addr().unwrap()).unwrap();
            let client = Client::builder("child").sender(statsd).build();
            client.incr("delivered");
            client.info("one");
            metlog::warn!(client, "two {}", 2);
            client.error("three");
            client.critical("four");
            client.debug("five");
            client.exception("six", &io::Error::other("x"));
            client.flush();
            let stats = client.stats();
            assert_eq!((stats.ignored, stats.sent), (6, 1), "{stats:?}");
        }
        Some("tour-exit") => {
            // The README's tour, with a network sender: the guard, then the
            // global client, then calls from anywhere, then return.
            let addr = std::env::var("METLOG_TEST_PEER").unwrap();
            let client = Client::builder("tour")
                .sender(metlog::sender::TcpSender::new(addr.as_str()).unwrap())
                .build();
            let _flush_at_exit = client.flush_guard();
            metlog::set_global_client(client).unwrap();
            for _ in 0..5_000 {
                metlog::incr("anywhere");
            }
        }
        _ => {} // not a child: nothing to do
    }
}

/// A program written from the README's tour and `set_global_client`'s docs
/// (flush guard kept in `main`) delivers every message when it returns.
#[test]
fn the_tour_pattern_delivers_everything_when_main_returns() {
    use std::io::BufRead;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        std::io::BufReader::new(conn).lines().count()
    });
    let peer = addr.to_string();
    support::run_child(
        &support::test_name!(child_process_entry),
        "tour-exit",
        &[("METLOG_TEST_PEER", &peer)],
    );
    // Unblocks the reader if the child never connected (it waits in the
    // backlog otherwise).
    let _ = std::net::TcpStream::connect(addr);
    assert_eq!(reader.join().unwrap(), 5_000);
}

/// A statsd sender without a fallback sends no log lines: that is said once
/// on stderr, with the way out, instead of only counted.
#[test]
fn a_statsd_sender_without_fallback_says_once_that_it_ignores_log_lines() {
    let (_, stderr) = support::run_child(
        &support::test_name!(child_process_entry),
        "statsd-logs",
        &[],
    );
    let reports = support::report_lines(&stderr);
    assert_eq!(reports.len(), 1, "{stderr}");
    for needed in ["\"child\"", "StatsdSender", "\"oldstyle\"", "Router"] {
        assert!(reports[0].contains(needed), "{needed}: {}", reports[0]);
    }
}

fn json_lines(stdout: &str) -> Vec<Value> {
    // The test harness may print `test name ... ` in front of the first line.
    stdout
        .lines()
        .filter_map(|l| l.find('{').map(|start| &l[start..]))
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

#[test]
fn stdout_sender_prints_one_json_line_per_message() {
    let (stdout, _) = support::run_child(&support::test_name!(child_process_entry), "stdout", &[]);
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["fields"]["name"], "to.stdout");
    assert_eq!(lines[1]["payload"], "hello");
}

#[test]
fn a_client_without_a_sender_prints_to_stdout() {
    let (stdout, _) = support::run_child(&support::test_name!(child_process_entry), "default", &[]);
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!(lines[0]["fields"]["name"], "default.sender");
}

#[test]
fn a_failing_sender_is_reported_once_on_stderr() {
    let (_, stderr) = support::run_child(&support::test_name!(child_process_entry), "failing", &[]);
    let reports = support::report_lines(&stderr);
    assert_eq!(reports.len(), 1, "{stderr}");
    assert!(reports[0].contains("cannot reach router"), "{}", reports[0]);
    assert!(
        reports[0].contains("\"child\""),
        "names the client: {}",
        reports[0]
    );
}

/// Standard output as a pipe nobody reads: once the pipe is full, a
/// synchronous write would block the caller for ever. The child sends far
/// more than a pipe holds and must still finish, its excess counted as
/// dropped.
#[test]
fn a_stalled_stdout_never_blocks_the_caller() {
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("stalled-stdout") {
        let client = Client::builder("child").sender(StdoutSender::new()).build();
        let line = "x".repeat(1_000);
        for _ in 0..200_000 {
            client.info(line.as_str()); // 200 MB against a 64 kB pipe
        }
        let stats = client.stats();
        assert!(stats.dropped > 0, "{stats:?}");
        eprintln!("child finished: {stats:?}");
        std::process::exit(0);
    }
    let (status, stderr) = run_with_unread_stdout(
        &support::test_name!(a_stalled_stdout_never_blocks_the_caller),
        "stalled-stdout",
        "the child is stuck writing to a full stdout",
    );
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("child finished"), "{stderr}");
}

/// Another thread stuck in `println!` on a stdout nobody reads holds
/// stdout's lock: the exit's flush of a global `StdoutSender` must not wait
/// for that lock (it once hung the exit for ever).
#[test]
fn a_thread_stuck_on_stdout_cannot_hang_the_exit() {
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok("stuck-stdout") {
        let client = Client::builder("child").sender(StdoutSender::new()).build();
        metlog::set_global_client(client).unwrap();
        metlog::incr("before");
        std::thread::spawn(|| {
            let line = "y".repeat(10_000);
            loop {
                println!("{line}");
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        metlog::incr("after");
        eprintln!("child leaving");
        std::process::exit(0);
    }
    let (_, stderr) = run_with_unread_stdout(
        &support::test_name!(a_thread_stuck_on_stdout_cannot_hang_the_exit),
        "stuck-stdout",
        "the exit hung on stdout's lock",
    );
    assert!(stderr.contains("child leaving"), "{stderr}");
}

/// Runs this binary's `test` as a child in `mode`, its stdout a pipe nobody
/// reads; waits at most a minute (then kills it and fails with `stuck`).
/// Its exit status and stderr.
fn run_with_unread_stdout(
    test: &str,
    mode: &str,
    stuck: &str,
) -> (std::process::ExitStatus, String) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env("METLOG_TEST_CHILD", mode)
        .stdout(std::process::Stdio::piped()) // never read
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{stuck}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

/// A UDP socket standing in for statsd, and a client sending to it with
/// `options`.
fn statsd_pair(options: metlog::sender::SenderOptions) -> (std::net::UdpSocket, Client) {
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let addr = peer.local_addr().unwrap();
    let statsd = metlog::sender::StatsdSender::with_options(addr, options).unwrap();
    (peer, Client::builder("svc").sender(statsd).build())
}

/// The statsd lines received until `count` have come (a generous deadline
/// bounds only a failure).
fn statsd_lines(peer: &std::net::UdpSocket, count: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut buf = [0; 65_536];
    while lines.len() < count {
        let n = peer.recv(&mut buf).expect("statsd lines within 30 s");
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        lines.extend(text.split('\n').map(str::to_owned));
    }
    lines
}

/// metlog-py's `incr(name, count=2.5)` on the statsd wire: `name:2.5|c`
/// (statsd adds fractions; tests/integration/peers.rs checks the real one).
#[test]
fn a_fractional_count_reaches_statsd_as_written() {
    let (peer, client) = statsd_pair(metlog::sender::SenderOptions::default());
    client.counter("credits").count(2.5).send();
    client.counter("items").count(3_u64).send();
    client.flush();
    let mut lines = statsd_lines(&peer, 2);
    lines.sort();
    assert_eq!(lines, ["credits:2.5|c", "items:3|c"]);
    assert_eq!(client.stats().sent, 2);
}

#[metlog::incr]
fn get_user(id: u32) -> Result<u32, String> {
    if id == 0 {
        Err("no such user".into())
    } else {
        Ok(id)
    }
}

/// Issue 22: an annotated function's outcome in the key when asked
/// (`get_user.ok` / `get_user.err`), the routers' key by default; chosen
/// fields as DogStatsD tags.
#[test]
fn statsd_keys_carry_the_outcome_and_lines_the_tags_when_asked() {
    use metlog::encode::statsd::Tags;
    use metlog::sender::SenderOptions;
    let key = "integration.senders.get_user";
    let calls = |client: &Client| {
        metlog::with_client(client, || {
            let _ = (get_user(1), get_user(0));
        });
        client
            .counter("tagged.requests")
            .field("route", "/login")
            .field("method", "GET")
            .field("user", "x,y|z:1|c\n#evil")
            .send();
        client.flush();
    };
    let (peer, client) = statsd_pair(SenderOptions::default());
    calls(&client);
    assert_eq!(
        statsd_lines(&peer, 3),
        [
            format!("{key}:1|c"),
            format!("{key}:1|c"),
            "tagged.requests:1|c".into()
        ]
    );
    let options = SenderOptions::default()
        .outcome_in_key(true)
        .tags(Tags::Only(vec![
            "route".into(),
            "method".into(),
            "user".into(),
        ]));
    let (peer, client) = statsd_pair(options);
    calls(&client);
    assert_eq!(
        statsd_lines(&peer, 3),
        [
            format!("{key}.ok:1|c"),
            format!("{key}.err:1|c"),
            "tagged.requests:1|c|#route:/login,method:GET,user:x_y_z:1_c__evil".into()
        ]
    );
    assert_eq!(client.stats().sent, 3);
}

/// Issue 22: `gauge_change` is statsd's signed change, `gauge` a value.
#[test]
fn statsd_gauge_changes_are_signed_and_values_set() {
    let (peer, client) = statsd_pair(metlog::sender::SenderOptions::default());
    client.gauge("conns", 10.0);
    client.gauge_change("conns", 5.0);
    client.gauge_change("conns", -3.0);
    client.gauge("conns", -4.0);
    client.flush();
    assert_eq!(
        statsd_lines(&peer, 5),
        [
            "conns:10|g",
            "conns:+5|g",
            "conns:-3|g",
            "conns:0|g",
            "conns:-4|g"
        ]
    );
}

/// Issue 22, F4: a name statsd keeps nothing of has no key: refused,
/// counted failed and reported, never sent as `:1|c`.
#[test]
fn a_statsd_name_with_no_key_is_refused_and_reported() {
    support::collect_reports();
    let options =
        metlog::sender::SenderOptions::default().prefix(metlog::encode::statsd::Prefix::Logger);
    let (peer, client) = statsd_pair(options);
    client.incr("¡¿!");
    client.incr("marker");
    client.flush();
    assert_eq!(statsd_lines(&peer, 1), ["svc.marker:1|c"]);
    assert_eq!(client.stats().failed, 1);
    let reports = support::reports();
    assert!(
        reports
            .iter()
            .any(|r| r.contains("\"¡¿!\" has no character statsd keeps in a key")),
        "{reports:?}"
    );
}

/// Issue 22: the statsd options from INI and TOML files; a bad value named.
#[test]
fn statsd_outcome_and_tags_are_configured_in_ini_and_toml() {
    use metlog::config;
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let port = peer.local_addr().unwrap().port();
    let ini = format!(
        "[metlog]\nlogger = app\nsender_class = statsd\nsender_port = {port}\n\
         sender_outcome_in_key = true\nsender_tags = route method\n"
    );
    let toml = format!(
        "logger = \"app\"\nsender = {{ class = \"statsd\", port = {port}, outcome_in_key = true, \
         tags = [\"route\", \"method\"] }}\n"
    );
    for client in [
        config::from_ini_str_strict(&ini, "metlog").unwrap(),
        config::from_toml_str(&toml).unwrap(),
    ] {
        metlog::with_client(&client, || get_user(0).unwrap_err());
        (client.counter("req").field("method", "GET"))
            .field("route", "/")
            .send();
        client.flush();
        assert_eq!(
            statsd_lines(&peer, 2),
            [
                "integration.senders.get_user.err:1|c",
                "req:1|c|#route:/,method:GET"
            ]
        );
    }
    let all = format!("[metlog]\nsender_class = statsd\nsender_port = {port}\nsender_tags = all\n");
    let client = config::from_ini_str_strict(&all, "metlog").unwrap();
    client.counter("req").field("a", 1).send();
    client.flush();
    assert_eq!(statsd_lines(&peer, 1), ["req:1|c|#a:1"]);
    let bad = format!("[metlog]\nsender_class = statsd\nsender_port = {port}\nsender_outcome_in_key = sometimes\n");
    let err = config::from_ini_str_strict(&bad, "metlog").unwrap_err();
    assert_eq!(err.key(), Some("sender_outcome_in_key"), "{err}");
    assert!(err.to_string().contains("true or false"), "{err}");
}

/// metlog-py's `DebugCaptureSender` is a `deque(maxlen=100)`: configured
/// under that class name, a capture keeps the newest 100 messages; under
/// `capture` (and `CaptureSender::new()`), the oldest up to its capacity.
#[test]
fn debug_capture_sender_keeps_the_newest_100_as_metlog_py() {
    let config = |class: &str| format!("[metlog]\nsender_class = {class}\n");
    for class in [
        "metlog.senders.DebugCaptureSender",
        "metlog.senders.dev.DebugCaptureSender",
    ] {
        let client = metlog::config::from_ini_str(&config(class), "metlog").unwrap();
        for i in 0..150 {
            client.incr(format!("n{i}"));
        }
        let capture = client.sender_as::<CaptureSender>().unwrap();
        let names: Vec<String> = capture
            .messages()
            .iter()
            .map(|m| m.fields["name"].to_string())
            .collect();
        assert_eq!(names.len(), 100, "{class}");
        assert_eq!(
            (names[0].as_str(), names[99].as_str()),
            ("n50", "n149"),
            "{class}"
        );
        assert_eq!(client.stats().sent, 150, "{class}: nothing refused");
        assert_eq!(capture.dropped(), 50, "{class}: 50 forgotten");
    }
    let client = metlog::config::from_ini_str(&config("capture"), "metlog").unwrap();
    for i in 0..150 {
        client.incr(format!("n{i}"));
    }
    let capture = client.sender_as::<CaptureSender>().unwrap();
    assert_eq!(capture.len(), 150);
    assert_eq!(capture.messages()[0].fields["name"].to_string(), "n0");
}

/// A ring with no room keeps nothing, but every message counts as sent
/// (and dropped) — it counted none sent; a bounded capture that is full
/// refuses.
#[test]
fn a_capture_ring_without_room_sends_and_forgets() {
    let ring = CaptureSender::ring(0);
    let client = Client::builder("t").sender(ring.clone()).build();
    client.incr("a");
    client.incr("b");
    assert_eq!((ring.messages().len(), ring.dropped()), (0, 2));
    assert_eq!((client.stats().sent, client.stats().failed), (2, 0));
    let full = CaptureSender::with_capacity(0);
    let client = Client::builder("t").sender(full.clone()).build();
    client.incr("a");
    assert_eq!((client.stats().sent, client.stats().dropped), (0, 1));
}
