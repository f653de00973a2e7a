#[metlog::timer(severity = 9)]
fn query() {}

fn main() {}
