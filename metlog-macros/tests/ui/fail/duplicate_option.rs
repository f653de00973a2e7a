#[metlog::timer(rate = 0.5, rate = 0.1)]
fn query() {}

fn main() {}
