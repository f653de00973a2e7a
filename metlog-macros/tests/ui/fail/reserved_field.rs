#[metlog::timer(fields(outcome = "mine"))]
fn query() {}

fn main() {}
