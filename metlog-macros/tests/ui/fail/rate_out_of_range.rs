#[metlog::timer(rate = 2.0)]
fn query() {}

fn main() {}
