//! Allocation counts: a global allocator counts each thread's allocations
//! (`support::counting`), for the tests that prove a call allocates nothing
//! on the caller's thread. A binary of its own: the allocator is the whole
//! process's.

#[path = "../support/mod.rs"]
mod support;

mod macros_alloc;
mod record_alloc;

#[global_allocator]
static ALLOCATOR: support::counting::Counting = support::counting::Counting;
