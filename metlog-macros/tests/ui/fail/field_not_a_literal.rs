const KIND: &str = "x";

#[metlog::timer(fields(kind = KIND))]
fn query() {}

fn main() {}
