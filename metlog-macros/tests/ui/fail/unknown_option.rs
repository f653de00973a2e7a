#[metlog::timer(nmae = "db.query")]
fn query() {}

fn main() {}
