#[metlog::incr("")]
fn hit() {}

fn main() {}
