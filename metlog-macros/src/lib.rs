//! Attribute macros for the [`metlog`](https://docs.rs/metlog) crate. Use them
//! through `metlog` (`#[metlog::timer]`, `#[metlog::incr]`), not directly.
