trait Store {
    #[metlog::timer]
    fn load(&self) -> u32;
}

fn main() {}
