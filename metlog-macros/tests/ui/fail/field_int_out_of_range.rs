#[metlog::timer(fields(big = 99999999999999999999))]
fn query() {}

fn main() {}
