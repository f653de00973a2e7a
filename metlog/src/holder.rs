//! The current client: a thread-local scope, else the global client, else none.
//!
//! Looked up at call time (metlog-py's deferred configuration): code can be
//! instrumented anywhere and configured once at startup. With no client
//! anywhere every call is a cheap no-op.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockWriteGuard};

use arc_swap::ArcSwapOption;
use std::task::{Context, Poll};

use crate::client::ClientRef;
use crate::gate;
use crate::{Client, Counter, MessageBuilder, SharedStr, Text, Timer};

/// The global client. Read without a lock (one pointer load and a
/// per-thread slot); changed only under the named clients' write lock.
static GLOBAL: ArcSwapOption<Client> = ArcSwapOption::const_empty();

/// Bumped after every change of [`GLOBAL`]: what an annotated site learnt
/// about the global client holds while this stays the same.
static GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's scopes, innermost last, each with its guard's number
    /// (the last number given is kept first): a guard removes its own entry
    /// wherever it is, so guards dropped out of order still leave the
    /// thread as it was.
    static SCOPED: RefCell<(u64, Vec<(u64, Client)>)> = const { RefCell::new((0, Vec::new())) };
}

/// Installs `client` as the process-wide client, unless one is set.
///
/// Returns the client back inside the error when a global client is already
/// set; that one stays. To change it, [`replace_global_client`]; to remove
/// it, [`clear_global_client`].
///
/// The global client is not dropped while it is installed (dropping is what
/// drains a network sender's queue): when the process exits — `main`
/// returns, `std::process::exit`, a panic — what it still holds is
/// delivered (within 5 s for all such clients together), and what cannot be
/// is reported on stderr. A [`Client::flush_guard`] (a named binding, not
/// `let _`) flushes earlier, where you choose.
///
/// ```
/// let client = metlog::Client::builder("myapp").sender(metlog::sender::NullSender).build();
/// let _flush_at_exit = client.flush_guard(); // delivers the queue when main returns
/// metlog::set_global_client(client).expect("set once, at startup");
/// metlog::incr("started"); // goes to the global client
/// let again = metlog::Client::builder("other").build();
/// assert!(metlog::set_global_client(again).is_err());
/// ```
pub fn set_global_client(client: Client) -> Result<(), SetGlobalClientError> {
    let mut named = registry_mut();
    if GLOBAL.load().is_some() {
        return Err(SetGlobalClientError { client });
    }
    install(&mut named, Some(client), None);
    Ok(())
}

/// Installs `client` as the process-wide client, returning the one it
/// replaces: what a service reloading its configuration does.
///
/// Safe while other threads send: each message goes to the old client or
/// to the new one, whole (a timer started on the old client ends there).
/// Annotated functions notice the change on their next call. The old
/// client is handed back undropped: flush it (or drop it, which drains a
/// network sender's queue) once the new one is in place.
///
/// ```
/// use metlog::sender::CaptureSender;
/// let (old, new) = (CaptureSender::new(), CaptureSender::new());
/// metlog::replace_global_client(metlog::Client::builder("v1").sender(old.clone()).build());
/// metlog::incr("a");
/// let previous = metlog::replace_global_client(metlog::Client::builder("v2").sender(new.clone()).build());
/// assert_eq!(previous.unwrap().logger(), "v1");
/// metlog::incr("b");
/// assert_eq!((old.len(), new.len()), (1, 1));
/// ```
pub fn replace_global_client(client: Client) -> Option<Client> {
    install(&mut registry_mut(), Some(client), None)
}

/// Removes the process-wide client, returning it: afterwards the free
/// functions and annotated functions send nothing (unless a thread has its
/// own scope), as before any was set. Safe while other threads send.
///
/// ```
/// metlog::replace_global_client(metlog::Client::builder("app").build());
/// assert_eq!(metlog::clear_global_client().unwrap().logger(), "app");
/// assert!(metlog::global_client().is_none());
/// ```
pub fn clear_global_client() -> Option<Client> {
    install(&mut registry_mut(), None, None)
}

/// Makes the named client registered under `name` the process-wide client
/// (metlog-py's `CLIENT_HOLDER.set_default_client_name`): the global client
/// follows that name from then on — [`set_client`] under it replaces the
/// global client too, [`remove_client`] of it clears the global client.
/// Returns the global client it replaces. With no client registered under
/// `name`, the global client is cleared until one is (metlog-py's
/// `default_client` is `None` then).
///
/// Setting the global client any other way ([`set_global_client`],
/// [`replace_global_client`], [`clear_global_client`]) stops following the
/// name.
///
/// ```
/// use metlog::sender::CaptureSender;
/// let (db, web) = (CaptureSender::new(), CaptureSender::new());
/// metlog::set_client("db", metlog::Client::builder("db").sender(db.clone()).build());
/// metlog::set_default_client_name("db");
/// metlog::incr("queries");
/// metlog::set_client("db", metlog::Client::builder("db").sender(web.clone()).build());
/// metlog::incr("queries"); // the new "db" client
/// assert_eq!((db.len(), web.len()), (1, 1));
/// ```
pub fn set_default_client_name(name: impl Into<String>) -> Option<Client> {
    let mut named = registry_mut();
    let name = name.into();
    let client = named.clients.get(&name).cloned();
    install(&mut named, client, Some(name))
}

/// The name the global client follows ([`set_default_client_name`]), if any.
pub fn default_client_name() -> Option<String> {
    registry()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .default
        .clone()
}

/// Puts `client` in [`GLOBAL`] (under the registry's write lock, which
/// orders every change), sets what the global client follows, and returns
/// the client replaced.
fn install(named: &mut Named, client: Option<Client>, follows: Option<String>) -> Option<Client> {
    if client.is_some() {
        crate::process::on_exit(crate::process::ExitWork::Clients, flush_at_exit);
        gate::set(gate::GLOBAL_SET);
    }
    let old = GLOBAL.swap(client.map(Arc::new));
    if GLOBAL.load().is_none() {
        gate::clear(gate::GLOBAL_SET);
    }
    GENERATION.fetch_add(1, Ordering::Release);
    named.default = follows;
    old.map(|old| Arc::try_unwrap(old).unwrap_or_else(|shared| (*shared).clone()))
}

/// The global client, if one is set.
#[inline]
pub fn global_client() -> Option<Client> {
    GLOBAL.load().as_deref().cloned()
}

/// The error of [`set_global_client`] when a global client already exists.
#[derive(Debug)]
pub struct SetGlobalClientError {
    client: Client,
}

impl SetGlobalClientError {
    /// The client that was not installed.
    pub fn into_inner(self) -> Client {
        self.client
    }
}

impl fmt::Display for SetGlobalClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a global metlog client is already set (logger {:?}); client {:?} was not installed",
            global_client()
                .as_ref()
                .map(Client::logger)
                .unwrap_or_default(),
            self.client.logger()
        )
    }
}

impl std::error::Error for SetGlobalClientError {}

/// Runs `f` with `client` as this thread's current client, then restores the
/// previous one (also when `f` panics). Returns what `f` returns.
///
/// ```
/// use metlog::sender::CaptureSender;
/// let capture = CaptureSender::new();
/// let client = metlog::Client::builder("test").sender(capture.clone()).build();
/// let answer = metlog::with_client(&client, || {
///     metlog::incr("inside");
///     42
/// });
/// assert_eq!(answer, 42);
/// assert_eq!(capture.len(), 1);
/// ```
pub fn with_client<R>(client: &Client, f: impl FnOnce() -> R) -> R {
    let _guard = set_default(client);
    f()
}

/// Makes `client` this thread's current client until the returned guard is
/// dropped, which restores the previous one.
///
/// **Not across `.await`.** The guard sets the *thread's* client: held
/// across an `.await` in an async task, it stays set while the task is
/// suspended, so every other task the thread runs meanwhile (on a
/// `spawn_local` or current-thread runtime) sends through this client, and
/// a task resumed on another thread finds it missing there. In async code,
/// scope the future instead: `future.with_client(&client)`
/// ([`WithClient::with_client`]) makes the client current only while the
/// future is polled.
///
/// ```
/// let client = metlog::Client::builder("test").sender(metlog::sender::NullSender).build();
/// let _guard = metlog::set_default(&client);
/// assert_eq!(metlog::current_client().unwrap().logger(), "test");
/// ```
pub fn set_default(client: &Client) -> DefaultGuard {
    let scope = SCOPED.try_with(|scopes| {
        let (last, scopes) = &mut *scopes.borrow_mut();
        *last += 1;
        scopes.push((*last, client.clone()));
        *last
    });
    if scope.is_ok() {
        gate::scope_entered();
    }
    DefaultGuard {
        scope: scope.ok(),
        _not_send: PhantomData,
    }
}

/// Restores the previous thread-local client when dropped; made by
/// [`set_default`]. Stays on the thread that made it.
#[must_use = "the client is current only until this guard is dropped; `let _ =` drops it at once"]
#[derive(Debug)]
pub struct DefaultGuard {
    /// Its entry in [`SCOPED`] (`None`: none was made).
    scope: Option<u64>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for DefaultGuard {
    fn drop(&mut self) {
        let Some(scope) = self.scope else { return };
        // The thread-local may already be gone while the thread exits.
        let removed = SCOPED.try_with(|scopes| {
            let scopes = &mut scopes.borrow_mut().1;
            let at = scopes.iter().rposition(|(s, _)| *s == scope);
            at.map(|at| scopes.remove(at))
        });
        // Dropped outside the borrow: a client's drop may run code.
        drop(removed);
        gate::scope_left();
    }
}

/// This thread's scoped client. While no scope is live anywhere — the common
/// case of a service with only a global client — the thread-local is not
/// touched.
#[inline(always)]
fn scoped() -> Option<Client> {
    if gate::load() < gate::SCOPE_ONE {
        return None;
    }
    scoped_slow()
}

#[cold]
#[inline(never)]
fn scoped_slow() -> Option<Client> {
    // Cloned out so no borrow is held while the caller runs (which may set a
    // scope of its own).
    SCOPED
        .try_with(|scopes| scopes.borrow().1.last().map(|(_, client)| client.clone()))
        .ok()
        .flatten()
}

/// The current client: this thread's scope, else the global one.
pub fn current_client() -> Option<Client> {
    scoped().or_else(global_client)
}

/// The current client as builders hold it (owned: the global client may be
/// replaced while a builder or timer holds it, which then finishes on the
/// client it started with).
#[inline(always)]
pub(crate) fn current_ref() -> ClientRef<'static> {
    current_with_generation().0
}

/// The current client, and when it is the global one, the [`GENERATION`]
/// it was read under (read before the client: the client is that
/// generation's or a newer one).
#[inline(always)]
pub(crate) fn current_with_generation() -> (ClientRef<'static>, Option<u64>) {
    if let Some(client) = scoped() {
        return (ClientRef::Owned(client), None);
    }
    if gate::load() & gate::GLOBAL_SET == 0 {
        return (ClientRef::None, None);
    }
    let generation = GENERATION.load(Ordering::Acquire);
    let global = GLOBAL.load();
    if global.is_none() {
        return (ClientRef::None, None);
    }
    (ClientRef::Global(global), Some(generation))
}

/// The generation of the global client now: a site's verdict learnt under
/// another one is stale.
#[inline(always)]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// Runs `f` on the current client, if any (the global one borrowed, no
/// reference count touched).
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Client) -> R) -> Option<R> {
    if let Some(client) = scoped() {
        return Some(f(&client));
    }
    if gate::load() & gate::GLOBAL_SET == 0 {
        return None;
    }
    GLOBAL.load().as_deref().map(f)
}

/// Increments counter `name` on the current client (no-op without one).
///
/// `name` may be text of any lifetime (see [`Client::incr`]).
#[inline]
pub fn incr<'a>(name: impl Into<Text<'a>>) {
    let name = name.into();
    with_current(|c| c.incr(name));
}

/// A counter on the current client, to configure and send.
pub fn counter<'a>(name: impl Into<Text<'a>>) -> Counter<'a> {
    Counter::new(current_ref(), name.into())
}

/// A timer guard on the current client (inert without one).
///
/// ```
/// fn handle() {
///     let _timer = metlog::timer("handle");
///     // ... the timer message is sent when `_timer` goes out of scope
/// }
/// handle();
/// ```
pub fn timer<'a>(name: impl Into<Text<'a>>) -> Timer<'a> {
    Timer::start(current_ref(), name.into())
}

/// A message of type `kind` on the current client, to configure and send.
pub fn metlog<'a>(kind: impl Into<Text<'a>>) -> MessageBuilder<'static> {
    MessageBuilder::new(current_ref(), kind.into().into_shared())
}

// ---- named clients (metlog-py's CLIENT_HOLDER) ----

/// At process exit: flushes the clients that outlive `main` — the global
/// one and the named ones, which live in statics Rust never drops — by
/// `deadline` in all, and reports on stderr what could still not be
/// delivered. No flush guard is needed (metlog-py's senders were
/// synchronous, and its users never kept one).
fn flush_at_exit(deadline: std::time::Instant) {
    let mut clients: Vec<Client> = global_client().into_iter().collect();
    if let Ok(named) = registry().read() {
        clients.extend(named.clients.values().cloned());
    }
    clients.retain(Client::is_active);
    clients.sort_by_key(Client::id);
    clients.dedup_by_key(|client| client.id());
    for client in clients {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let error = if !left.is_zero() {
            match client.flush_timeout(left) {
                Ok(()) => continue,
                Err(error) => error.to_string(),
            }
        } else if client.sender_delivery().is_some_and(|d| d.queued == 0) {
            // A background sender says whether anything still waits (its
            // worker may have delivered all while the exit waited on
            // another); a synchronous one cannot be asked without a flush
            // that might block.
            continue;
        } else {
            let budget = crate::process::EXIT_BUDGET;
            format!("not flushed: the {budget:?} for delivery at exit had run out")
        };
        crate::report::report(format_args!(
            "at exit, client {:?} ({}): {error}; those messages are lost",
            client.logger(),
            client.sender_name()
        ));
    }
}

/// The named clients, and the name the global client follows.
#[derive(Default)]
struct Named {
    clients: HashMap<String, Client>,
    /// Set by [`set_default_client_name`].
    default: Option<String>,
}

/// The named clients, to change (also held to change the global client).
fn registry_mut() -> RwLockWriteGuard<'static, Named> {
    #[cfg(test)]
    tests::WRITE_LOCKS.with(|taken| taken.set(taken.get() + 1));
    registry().write().unwrap_or_else(PoisonError::into_inner)
}

fn registry() -> &'static RwLock<Named> {
    static NAMED: OnceLock<RwLock<Named>> = OnceLock::new();
    if let Some(named) = NAMED.get() {
        return named;
    }
    // Registered before it is made, not while: registering waits for a
    // fork under way, which would copy it half made into the child.
    crate::process::hold_across_fork(crate::process::ForkLock::NamedClients, || {
        Box::new(registry_mut())
    });
    NAMED.get_or_init(RwLock::default)
}

/// Registers `client` under `name`, returning the client it replaces.
///
/// ```
/// let db = metlog::Client::builder("db").sender(metlog::sender::NullSender).build();
/// metlog::set_client("db", db);
/// assert!(metlog::get_client("db").is_active());
/// ```
pub fn set_client(name: impl Into<String>, client: Client) -> Option<Client> {
    if client.is_active() {
        crate::process::on_exit(crate::process::ExitWork::Clients, flush_at_exit);
    }
    let mut named = registry_mut();
    let name = name.into();
    if named.default.as_ref() == Some(&name) {
        let follows = named.default.take();
        install(&mut named, Some(client.clone()), follows);
    }
    store(&mut named.clients, name, client)
}

/// How many inactive clients the registry holds (changed under its write
/// lock; read without it, by [`get_client`]).
static UNCONFIGURED: AtomicUsize = AtomicUsize::new(0);

/// Puts `client` under `name`, keeping [`UNCONFIGURED`] in step.
fn store(named: &mut HashMap<String, Client>, name: String, client: Client) -> Option<Client> {
    let inactive = !client.is_active();
    let replaced = named.insert(name, client);
    count_unconfigured(inactive, replaced.as_ref());
    replaced
}

fn count_unconfigured(added: bool, removed: Option<&Client>) {
    if added {
        UNCONFIGURED.fetch_add(1, Ordering::Relaxed);
    }
    if removed.is_some_and(|client| !client.is_active()) {
        UNCONFIGURED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The client registered under `name`; if there is none, registers and
/// returns a new *inactive* client whose logger is `name` (metlog-py's
/// `get_client`, which also hands out unconfigured clients). At most
/// 1,024 such names are kept; past that, an inactive client is
/// handed out without being registered, so asking for ever-new names costs
/// no memory.
///
/// A client obtained before [`set_client`] replaces it stays inactive: look
/// named clients up where they are used (the attribute macros' `client = "…"`
/// option does), or configure them first.
pub fn get_client(name: &str) -> Client {
    if let Some(client) = named_client(name) {
        return client;
    }
    let client = Client::inactive(SharedStr::copy_from(name));
    // Unconfigured names are remembered (metlog-py's holder does), but only
    // so many: a service asking for ever-new names must not grow without
    // bound. Past the limit they are handed out without being kept — and
    // without the write lock, which every other thread's lookup would wait
    // for.
    if UNCONFIGURED.load(Ordering::Relaxed) >= MAX_UNCONFIGURED {
        return client;
    }
    let mut named = registry_mut();
    if let Some(found) = named.clients.get(name) {
        return found.clone();
    }
    if UNCONFIGURED.load(Ordering::Relaxed) < MAX_UNCONFIGURED {
        store(&mut named.clients, name.to_owned(), client.clone());
    }
    client
}

/// How many unconfigured names [`get_client`] keeps at most.
pub(crate) const MAX_UNCONFIGURED: usize = 1_024;

/// The client registered under `name`, without registering anything.
pub fn named_client(name: &str) -> Option<Client> {
    registry()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clients
        .get(name)
        .cloned()
}

/// Unregisters the client named `name`, returning it. If the global client
/// follows that name ([`set_default_client_name`]), it is cleared too.
pub fn remove_client(name: &str) -> Option<Client> {
    let mut named = registry_mut();
    if named.default.as_deref() == Some(name) {
        install(&mut named, None, None);
    }
    let removed = named.clients.remove(name);
    drop(named);
    count_unconfigured(false, removed.as_ref());
    removed
}

// ---- async: a scope that follows a future ----

/// Makes a client current while a future runs, on whichever thread polls it
/// (like `tracing`'s `WithSubscriber`).
///
/// ```
/// use metlog::WithClient;
/// # let client = metlog::Client::builder("app").sender(metlog::sender::NullSender).build();
/// async fn handler() { metlog::incr("handled"); }
/// let fut = handler().with_client(&client);
/// # drop(fut);
/// ```
pub trait WithClient: Sized {
    /// Runs `self` with `client` current during every poll (and its drop).
    fn with_client(self, client: &Client) -> WithClientFuture<Self> {
        WithClientFuture {
            inner: Some(self),
            client: Some(client.clone()),
        }
    }

    /// Runs `self` with the client that is current *now* (e.g. before
    /// spawning a task), if any.
    fn with_current_client(self) -> WithClientFuture<Self> {
        WithClientFuture {
            inner: Some(self),
            client: current_client(),
        }
    }
}

impl<F: Future> WithClient for F {}

pin_project_lite::pin_project! {
    /// A future running with a client current; made by [`WithClient`].
    #[must_use = "futures do nothing unless polled"]
    pub struct WithClientFuture<F> {
        #[pin]
        inner: Option<F>,
        client: Option<Client>,
    }

    impl<F> PinnedDrop for WithClientFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Drop the inner future inside the scope, so what it reports on
            // cancellation reaches the same client.
            let mut this = this.project();
            let _guard = this.client.as_ref().map(set_default);
            this.inner.set(None);
        }
    }
}

impl<F: Future> Future for WithClientFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = this.client.as_ref().map(set_default);
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            // Only reachable by polling after drop began, which Pin forbids.
            None => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for WithClientFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithClientFuture")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call through the global client holds it by a guard of the swap,
    /// not a clone: no thread's call writes the client's reference count
    /// (a cache line every core would fight over).
    #[test]
    fn the_global_client_is_read_without_a_reference_count() {
        let client = Client::builder("global-ref")
            .sender(crate::sender::NullSender)
            .build();
        let before = replace_global_client(client.clone());
        let count = Arc::strong_count(&client.inner);
        let (current, generation) = current_with_generation();
        assert!(generation.is_some());
        assert_eq!(current.get().map(Client::logger), Some("global-ref"));
        assert_eq!(Arc::strong_count(&client.inner), count, "not cloned");
        drop(current);
        match before {
            Some(before) => drop(replace_global_client(before)),
            None => drop(clear_global_client()),
        }
    }

    std::thread_local! {
        /// How many times this thread took the registry's write lock.
        pub(super) static WRITE_LOCKS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    /// Past the limit of remembered names, asking for an unknown one takes
    /// no write lock (which every other thread's lookup would wait for).
    /// Counted per thread: holding a read lock to show it would deadlock
    /// with any other test queuing a writer meanwhile.
    #[test]
    fn an_unknown_name_past_the_limit_takes_no_write_lock() {
        for i in 0..MAX_UNCONFIGURED {
            let _ = get_client(&format!("holder-test-unconfigured-{i}"));
        }
        assert!(UNCONFIGURED.load(Ordering::Relaxed) >= MAX_UNCONFIGURED);
        let writes = WRITE_LOCKS.with(std::cell::Cell::get);
        let client = get_client("holder-test-one-more");
        assert!(!client.is_active());
        assert_eq!(
            WRITE_LOCKS.with(std::cell::Cell::get),
            writes,
            "get_client took the write lock"
        );
        // Replacing and removing keep the count.
        let before = UNCONFIGURED.load(Ordering::Relaxed);
        let active = Client::builder("x")
            .sender(crate::sender::NullSender)
            .build();
        set_client("holder-test-unconfigured-0", active);
        assert_eq!(UNCONFIGURED.load(Ordering::Relaxed), before - 1);
        remove_client("holder-test-unconfigured-1");
        assert_eq!(UNCONFIGURED.load(Ordering::Relaxed), before - 2);
        remove_client("holder-test-unconfigured-0");
        assert_eq!(UNCONFIGURED.load(Ordering::Relaxed), before - 2);
    }
}
