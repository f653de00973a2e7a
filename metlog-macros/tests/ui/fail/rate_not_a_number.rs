#[metlog::timer(rate = "x")]
fn query() {}

fn main() {}
