#[metlog::timer(severity = Severity::Loud)]
fn query() {}

fn main() {}
