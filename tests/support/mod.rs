//! Helpers shared by the test binaries (`integration`, `process`, `alloc`):
//! a minimal executor for driving futures by hand, the process's resident
//! memory, metlog's reports collected, and child processes of the test
//! binary for what needs a process of its own.

#![allow(dead_code, unused_imports, unused_macros)] // each test binary uses its own subset

pub mod children;
pub mod counting;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that does nothing: the tests poll in a loop.
pub struct NoopWaker;

impl Wake for NoopWaker {
    fn wake(self: Arc<Self>) {}
}

/// A waker for polling by hand.
pub fn noop_waker() -> Waker {
    Waker::from(Arc::new(NoopWaker))
}

/// Pending once, then ready: makes a future be polled twice.
pub struct YieldOnce(pub bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(&noop_waker()))
}

/// Polls `fut` on this thread until it is ready.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// An example's binary (package `metlog-examples`), built or brought up to
/// date first: `cargo test` builds examples only when no test is selected by
/// name. Asked of the same command `scripts/test.sh` runs, so after a full
/// run cargo finds everything fresh and only names the binary (building an
/// example any other way compiles its dependencies again, in another
/// profile).
pub fn example(name: &str) -> std::path::PathBuf {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "test",
            "--no-run",
            "--quiet",
            "--workspace",
            "--all-features",
        ])
        .args(["--message-format", "json-render-diagnostics"])
        .current_dir(workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo test --no-run failed");
    // The artifact's path, as cargo reports it (also for a fresh build).
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .filter(|m| m["target"]["kind"][0] == "example")
        .find_map(|m| m["executable"].as_str().map(std::path::PathBuf::from))
        .unwrap_or_else(|| panic!("cargo named no executable for example {name}"))
}

/// The workspace's top directory (where README.md and examples/ are).
pub fn workspace_root() -> &'static std::path::Path {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// How long a test waits for a condition before it fails: far longer than
/// any condition takes, so that a busy machine only makes a test slower,
/// and only a condition that never comes fails it.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Polls `condition` until it holds; fails, saying `what` was awaited, if it
/// does not within [`PATIENCE`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The CPU time `work` took on this thread: a complexity guard's measure,
/// which other threads and processes on a busy machine do not lengthen (its
/// wall-clock time they do, without limit).
#[allow(unsafe_code)] // clock_gettime
pub fn thread_cpu_time(work: impl FnOnce()) -> std::time::Duration {
    let now = || {
        let mut time = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `time` is a valid timespec to write to.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
        assert_eq!(status, 0, "clock_gettime");
        std::time::Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
    };
    let started = now();
    work();
    now() - started
}

/// Whether the TCP connection from `local` to `remote` (IPv4) is still
/// established on this machine (Linux: `/proc/net/tcp`): once its peer has
/// closed it, it is in `CLOSE_WAIT` (a FIN came) or gone (a reset came).
pub fn tcp_established(local: std::net::SocketAddr, remote: std::net::SocketAddr) -> bool {
    let (local, remote) = (proc_net_tcp_address(local), proc_net_tcp_address(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // `sl local_address rem_address st …`; 01 is ESTABLISHED.
        fields.len() > 3 && fields[1] == local && fields[2] == remote && fields[3] == "01"
    })
}

/// Whether a TCP connection to `remote` (IPv4) is open on this machine, as
/// `/proc/net/tcp` says: established, or closed by `remote` but not yet by
/// this end (`CLOSE_WAIT`).
pub fn tcp_open_to(remote: std::net::SocketAddr) -> bool {
    let remote = proc_net_tcp_address(remote);
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // `sl local_address rem_address st …`; 01 ESTABLISHED, 08 CLOSE_WAIT.
        fields.len() > 3 && fields[2] == remote && matches!(fields[3], "01" | "08")
    })
}

/// An IPv4 address as `/proc/net/tcp` writes it.
fn proc_net_tcp_address(addr: std::net::SocketAddr) -> String {
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        panic!("IPv4 only: {addr}");
    };
    // The address as the kernel's u32 in host order, the port as is.
    format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(ip.octets()),
        addr.port()
    )
}

/// This process's resident memory in bytes (Linux: `/proc/self/statm`).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// The property tests' settings: 2,000 cases (`PROPTEST_CASES` overrides),
/// a fresh random seed every run, and no regressions file written into the
/// source tree — a failure prints its minimal input, to be pinned as a named
/// test beside the property.
pub fn proptest_config() -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        // Fresh seeds still; XorShift rather than ChaCha, which unoptimised
        // (as test builds are) was most of these tests' time.
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..proptest::test_runner::Config::default()
    }
}

/// Sends metlog's reports (see `metlog::report`) to a list instead of
/// stderr, for the whole test binary: tests that provoke failures on purpose
/// call this first, so a passing run reads clean, and may then assert on
/// [`reports`].
pub fn collect_reports() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        metlog::report::set_handler(|text: &str| {
            REPORTS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(text.to_owned());
        });
    });
}

static REPORTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// What metlog reported since [`collect_reports`].
pub fn reports() -> Vec<String> {
    REPORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// The name the test harness gives test function `$f` of the calling module
/// (`module::function`, the test binary's own name left out), as `--exact`
/// takes it. Naming the function itself checks that it exists.
macro_rules! test_name {
    ($f:ident) => {{
        let _ = $f as fn();
        $crate::support::harness_name(module_path!(), stringify!($f))
    }};
}
pub(crate) use test_name;

/// `module_path` without its first segment (the test binary), then
/// `function`: the harness's name for a test. Use [`test_name!`].
pub fn harness_name(module_path: &str, function: &str) -> String {
    match module_path.split_once("::") {
        Some((_, module)) => format!("{module}::{function}"),
        None => function.to_owned(),
    }
}

/// Runs test `test` of this same test binary in a child process with
/// `METLOG_TEST_CHILD=mode` (and `env`), for what needs a process of its own
/// (a global client, a return from `main`, stderr as the user sees it);
/// asserts it passed and gives its stdout and stderr. `test` is the
/// harness's name for it: [`test_name!`].
pub fn run_child(test: &str, mode: &str, env: &[(&str, &str)]) -> (String, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        // `--include-ignored`: the named test runs in the child even when it
        // is one of the ignored (peer) tests, never passes there unrun.
        .args([
            "--exact",
            test,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("METLOG_TEST_CHILD", mode)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The `METLOG_TEST_CHILD` mode of [`in_own_process`]'s children.
const OWN_PROCESS: &str = "own-process";

/// Runs `body` in a process of its own: a child process of this test binary
/// running test `test` (the caller, named with [`test_name!`]) alone, with
/// `env` added to its environment; in that child, runs `body` itself.
///
/// For a test that changes something process-wide (the global client, the
/// panic hook, the report handler, the `log` logger, the decorator switches,
/// an environment variable, metlog's once-per-process reports) or measures
/// it (resident memory): the other tests of the binary run on the parent's
/// threads at the same time and must neither see that change nor disturb the
/// measurement. The child's assertions are the test's: a failing child
/// fails it, with the child's output.
pub fn in_own_process(test: &str, env: &[(&str, &str)], body: impl FnOnce()) {
    if std::env::var("METLOG_TEST_CHILD").as_deref() == Ok(OWN_PROCESS) {
        body();
    } else {
        let (stdout, stderr) = run_child(test, OWN_PROCESS, env);
        // What the child printed, for `--nocapture` runs (captured otherwise).
        print!("{stdout}");
        eprint!("{stderr}");
    }
}

/// The `metlog:` report lines of a child's stderr.
pub fn report_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("metlog:"))
        .collect()
}
