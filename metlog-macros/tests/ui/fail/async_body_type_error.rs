// A body of the wrong type in an annotated `async fn` is reported at the
// user's code (the return type, the body), not at the attribute.

#[metlog::timer]
async fn empty() -> u32 {}

#[metlog::incr]
async fn wrong() -> u32 {
    "x"
}

fn main() {}
