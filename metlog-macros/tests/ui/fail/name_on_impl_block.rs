struct Repo;

#[metlog::timer(name = "repo")]
impl Repo {
    fn find(&self) {}
}

fn main() {}
