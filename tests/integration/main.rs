//! The ordinary integration tests of the metlog workspace: one test binary,
//! a module per subject. Run them all with `scripts/test.sh` (which also
//! starts the real peers for the ignored tests of `peers`).
//!
//! The tests here share one process and run on parallel threads: none may
//! change what is process-wide (the global client, the report handler, the
//! panic hook, the `log` logger, the decorator switches, the environment)
//! in it. A test that must runs its body in a child process of its own
//! ([`support::in_own_process`]); tests about the process itself are in the
//! `process` binary, allocation counts in `alloc`.

#[path = "../support/mod.rs"]
mod support;

mod accepted_forms;
mod cef_golden;
mod client;
mod config;
mod config_fuzz;
mod current_client;
mod delivery;
mod dns;
mod envelope;
mod hostile;
// Public, so that `missing_docs` and the other lints it denies apply to its
// items as to a library's.
pub mod lint_hygiene;
mod macros;
mod metlog_py_ini;
mod peers;
mod plugins;
mod quickstart;
mod raven;
mod reliability;
mod router_sentry;
mod senders;
mod shared_sender;
mod tcp_pause;
mod transports;
