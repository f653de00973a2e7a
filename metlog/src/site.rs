//! Annotated call sites (`#[metlog::timer]`, `#[metlog::incr]`): what is
//! known of each at compile time ([`Site`]). A call's record refers to its
//! site; the macros reach this module through `__private`.

use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;

use crate::value::ValueRef;
use crate::{SharedStr, Value};

/// Which macro a site belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `#[metlog::timer]`: a `timer` message with the elapsed milliseconds.
    Timer,
    /// `#[metlog::incr]`: a `counter` message with the count.
    Incr,
}

/// A literal from the `fields(...)` option.
#[derive(Clone, Copy, Debug)]
pub enum FieldLit {
    /// A string.
    Str(&'static str),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl FieldLit {
    /// The literal as a field value.
    pub(crate) fn as_ref(&self) -> ValueRef<'static> {
        match *self {
            FieldLit::Str(s) => ValueRef::Str(s),
            FieldLit::Int(n) => ValueRef::I64(n),
            FieldLit::Float(n) => ValueRef::F64(n),
            FieldLit::Bool(b) => ValueRef::Bool(b),
        }
    }
}

impl From<FieldLit> for Value {
    fn from(lit: FieldLit) -> Value {
        match lit {
            FieldLit::Str(s) => Value::Str(SharedStr::from_static(s)),
            FieldLit::Int(n) => Value::I64(n),
            FieldLit::Float(n) => Value::F64(n),
            FieldLit::Bool(b) => Value::Bool(b),
        }
    }
}

/// Everything an annotated function's messages need that is known at compile
/// time; one `static` per annotated function.
#[derive(Debug)]
pub struct Site {
    /// Which macro.
    pub kind: Kind,
    /// `module_path!()` at the annotated function.
    pub module_path: &'static str,
    /// The `impl` block's type, or `""` for a free function.
    pub scope: &'static str,
    /// The function's name.
    pub function: &'static str,
    /// The `name` option, if given.
    pub name: Option<&'static str>,
    /// The name came as a bare string first (`#[timer("x")]`, metlog-py's
    /// `@timeit('x')`): the function's own name does not disable the timer,
    /// as with `name = "x"` (`@timeit(name='x')`) or no name it does.
    pub name_positional: bool,
    /// The `rate` option (1.0 by default).
    pub rate: f64,
    /// The `severity` option.
    pub severity: Option<u8>,
    /// The `logger` option.
    pub logger: Option<&'static str>,
    /// The `fields(...)` option.
    pub fields: &'static [(&'static str, FieldLit)],
    /// The `client` option: a named client to use instead of the current one.
    pub client: Option<&'static str>,
    /// The `count` option (1 by default; counters only).
    pub count: i64,
    /// What the site learns at run time, in a `static` of its own so that
    /// this one holds only constants, which the compiler folds into the
    /// inlined checks of [`enter`](crate::__private::enter).
    pub state: &'static SiteState,
}

/// Run-time memory of a [`Site`].
#[derive(Debug)]
pub struct SiteState {
    /// The default name, built on first use.
    pub(crate) name: OnceLock<&'static str>,
    /// `client id << 1 | disabled` for the client last seen here (0: none):
    /// whether this timer is disabled on that client, so the disabled-timer
    /// set is consulted once per client rather than hashed on every call.
    pub(crate) timer_disabled: AtomicU64,
    /// Whether this site has nothing to do on the global client (inactive,
    /// or this timer disabled on it): `generation << 2 |` [`LIVE`] or
    /// [`IDLE`], learnt under that generation of the global client
    /// (`holder::generation`), stale once it is replaced; [`UNKNOWN`] first.
    pub(crate) on_global: AtomicU64,
}

pub(crate) const UNKNOWN: u64 = 0;
pub(crate) const LIVE: u64 = 1;
pub(crate) const IDLE: u64 = 2;

impl SiteState {
    /// Nothing learnt yet.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> SiteState {
        SiteState {
            name: OnceLock::new(),
            timer_disabled: AtomicU64::new(0),
            on_global: AtomicU64::new(UNKNOWN),
        }
    }
}

impl Site {
    /// The metric name: the `name` option, or `module.path.[Type.]function`
    /// (built once per site and kept for the life of the process).
    pub fn name(&self) -> &'static str {
        if let Some(name) = self.name {
            return name;
        }
        self.state.name.get_or_init(|| {
            let mut name = self.module_path.replace("::", ".");
            for part in [self.scope, self.function] {
                if !part.is_empty() {
                    name.push('.');
                    name.push_str(part);
                }
            }
            // One small string per annotated function, so leaking is bounded;
            // it lets every message refer to the name without counting.
            Box::leak(name.into_boxed_str())
        })
    }
}

/// The `outcome` field's values, indexed by a record's outcome byte.
pub(crate) const OUTCOMES: [&str; 4] = ["ok", "err", "panic", "cancelled"];
pub(crate) const OUTCOME_OK: u8 = 0;
pub(crate) const OUTCOME_PANIC: u8 = 2;
pub(crate) const OUTCOME_CANCELLED: u8 = 3;
