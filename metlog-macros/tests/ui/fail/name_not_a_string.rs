#[metlog::timer(name = db.query)]
fn query() {}

fn main() {}
