#[metlog::timer(fields(ratio = 1.0e400))]
fn query() {}

fn main() {}
