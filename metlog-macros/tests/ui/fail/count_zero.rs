#[metlog::incr(count = 0)]
fn hit() {}

fn main() {}
