//! Process-wide switches for the attribute macros (metlog-py's
//! `global_disabled_decorators`).

use crate::gate;
use std::fmt;
use std::str::FromStr;

/// The attribute macros, as the process-wide switches name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decorator {
    /// `#[metlog::timer]` (metlog-py's `timeit`).
    Timer,
    /// `#[metlog::incr]` (metlog-py's `incr_count`).
    Incr,
}

impl Decorator {
    #[inline(always)]
    pub(crate) const fn bit(self) -> usize {
        match self {
            Decorator::Timer => gate::TIMER_OFF,
            Decorator::Incr => gate::INCR_OFF,
        }
    }
}

/// Turns every `#[metlog::timer]` or every `#[metlog::incr]` in the process
/// off (`false`) or back on (`true`). Off, an annotated call costs one atomic
/// load.
///
/// ```
/// use metlog::Decorator;
/// metlog::set_decorator_enabled(Decorator::Timer, false);
/// assert!(!metlog::is_decorator_enabled(Decorator::Timer));
/// metlog::set_decorator_enabled(Decorator::Timer, true);
/// ```
pub fn set_decorator_enabled(decorator: Decorator, enabled: bool) {
    if enabled {
        gate::clear(decorator.bit());
    } else {
        gate::set(decorator.bit());
    }
}

/// Whether `decorator` is on (the default).
#[inline(always)]
pub fn is_decorator_enabled(decorator: Decorator) -> bool {
    gate::load() & decorator.bit() == 0
}

/// Sets exactly which decorators are disabled, by name: metlog-py's
/// `global_disabled_decorators` names (`timeit`, `incr_count`) or ours
/// (`timer`, `incr`). Names not listed are enabled again.
///
/// On an unknown name nothing changes and the error names it.
///
/// ```
/// metlog::set_disabled_decorators(["timeit"]).unwrap();
/// assert!(!metlog::is_decorator_enabled(metlog::Decorator::Timer));
/// assert!(metlog::is_decorator_enabled(metlog::Decorator::Incr));
/// assert!(metlog::set_disabled_decorators(["timeitt"]).is_err());
/// metlog::set_disabled_decorators(Vec::<&str>::new()).unwrap();
/// ```
pub fn set_disabled_decorators<I>(names: I) -> Result<(), UnknownDecoratorError>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let mut bits = 0;
    for name in names {
        bits |= name.as_ref().parse::<Decorator>()?.bit();
    }
    gate::set_decorators(bits);
    Ok(())
}

/// A decorator name that is none of `timer`, `timeit`, `incr`, `incr_count`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDecoratorError {
    name: String,
}

impl fmt::Display for UnknownDecoratorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown decorator {:?}: expected timer (or timeit) or incr (or incr_count)",
            self.name
        )
    }
}

impl std::error::Error for UnknownDecoratorError {}

impl FromStr for Decorator {
    type Err = UnknownDecoratorError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim() {
            "timer" | "timeit" => Ok(Decorator::Timer),
            "incr" | "incr_count" => Ok(Decorator::Incr),
            _ => Err(UnknownDecoratorError { name: name.into() }),
        }
    }
}
