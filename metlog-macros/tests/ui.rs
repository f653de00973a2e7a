//! Compile-time behaviour of the attribute macros: each misuse is one
//! spanned error (`tests/ui/fail/*.stderr`). The accepted forms are an
//! integration test (`tests/integration/accepted_forms.rs`): with no "pass"
//! case here, trybuild type-checks instead of building.
//! Regenerate the expected output with `TRYBUILD=overwrite`.

use std::io::IsTerminal;

#[test]
fn ui() {
    // trybuild colours its report whenever TERM allows it, also into a log
    // file or under `CARGO_TERM_COLOR=never`; it honours NO_COLOR. This is
    // the binary's only test, so no other thread reads the environment.
    let never = std::env::var("CARGO_TERM_COLOR").is_ok_and(|c| c == "never");
    if never || !std::io::stderr().is_terminal() {
        std::env::set_var("NO_COLOR", "1");
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
}
