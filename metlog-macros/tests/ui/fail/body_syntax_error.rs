// A body with a syntax error: rustc's own error, once, at the mistake — not
// a second, misleading one from the attribute.
#[metlog::timer]
fn broken() -> u32 {
    let x = ;
    x
}

fn main() {}
