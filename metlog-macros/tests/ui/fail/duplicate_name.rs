#[metlog::timer("a", name = "b")]
fn query() {}

fn main() {}
