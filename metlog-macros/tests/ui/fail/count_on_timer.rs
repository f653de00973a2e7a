#[metlog::timer(count = 2)]
fn query() {}

fn main() {}
