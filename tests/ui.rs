//! Compile-time behaviour of the attribute macros: accepted forms compile,
//! and each misuse is one spanned error (`tests/ui/fail/*.stderr`).
//! Regenerate the expected output with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
