//! Holder of the metlog workspace's integration tests (`tests/`), examples
//! (`examples/`) and benchmarks (`benches/`). It has no code of its own and is
//! never published; the crates users depend on are `metlog` and
//! `metlog-macros`.
