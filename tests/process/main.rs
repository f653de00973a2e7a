//! Tests about the process itself: the global and named clients, the
//! delivery at exit, `fork`, the panic hook, the `log` logger, the report
//! handler, the decorator switches, `METLOG_CONFIG`. Each test runs in a
//! process of its own — a child process of this binary, running that test
//! alone ([`support::in_own_process`], or a parent/child pair of its own) —
//! so that what it sets process-wide meets no other test.

#[path = "../support/mod.rs"]
mod support;

mod config_env;
mod exception_backtrace;
mod exit_delivery;
#[cfg(unix)]
mod file_limits;
mod fork;
mod fork_exit;
mod fork_first_use;
mod fork_locks;
mod fork_println;
mod fork_router;
mod fork_sampling;
mod fork_stdout;
mod global_client;
mod log_bridge;
mod log_sender;
mod macros_global;
mod named_clients;
mod panic_hook;
mod plugin_config;
mod report;
#[cfg(unix)]
mod signals;
#[cfg(target_os = "linux")]
mod stdout_inline;
mod zmq_exit;
#[cfg(target_os = "linux")]
mod zmq_limits;
