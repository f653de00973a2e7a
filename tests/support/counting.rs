//! A global allocator that counts the calling thread's allocations, for the
//! tests that prove a path allocates nothing. A test binary installs it
//! (the `alloc` binary does):
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: support::counting::Counting = support::counting::Counting;
//! ```
#![allow(unsafe_code)] // a global allocator is an `unsafe impl`

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts, then allocates from the system.
pub struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// Counts the allocations of the current thread only, so workers and the
// test harness's other threads do not disturb the count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

/// How many allocations this thread made while running `f`.
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}
