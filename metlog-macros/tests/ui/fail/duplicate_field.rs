#[metlog::timer(fields(a = 1, a = 2))]
fn query() {}

fn main() {}
