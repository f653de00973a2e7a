#[metlog::incr]
struct Config {
    port: u16,
}

fn main() {}
