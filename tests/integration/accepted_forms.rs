//! Every accepted form of the attributes' options compiles and runs (the
//! misuses are the compile-fail cases in `metlog-macros/tests/ui`). Here
//! rather than a trybuild "pass" case: without one, trybuild only type-checks
//! its cases instead of building them, half a minute less of the test run.

#[metlog::timer]
fn bare() {}

#[metlog::timer()]
fn empty_parens() {}

#[metlog::timer("db.query")]
fn bare_name() {}

#[metlog::timer("db.query", rate = 0.5)]
fn bare_name_then_options() {}

#[metlog::timer(name = "x", rate = 1, severity = 0, logger = "l", client = "c")]
fn all_timer_options() {}

#[metlog::timer(severity = Severity::Warning, fields(a = "s", b = -2, c = 0.5, d = true, "e.f" = 1))]
fn severity_variant_and_fields() {}

#[metlog::timer(severity = metlog::Severity::Debug, rate = 0.0,)]
fn full_path_and_trailing_comma() {}

#[metlog::incr(count = -1, name = "down")]
fn negative_count() {}

#[test]
fn every_accepted_form_of_the_options_compiles_and_runs() {
    bare();
    empty_parens();
    bare_name();
    bare_name_then_options();
    all_timer_options();
    severity_variant_and_fields();
    full_path_and_trailing_comma();
    negative_count();
}
