#[metlog::skip]
fn helper() {}

fn main() {}
