#[metlog::incr(count = 1.5)]
fn hit() {}

fn main() {}
