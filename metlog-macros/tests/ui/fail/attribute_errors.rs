// Each misuse of the attributes is one spanned error, in its own module
// (one file, so the suite compiles them once rather than once each).

mod const_fn {
    #[metlog::timer]
    const fn answer() -> u32 {
        42
    }
}

mod count_not_integer {
    #[metlog::incr(count = 1.5)]
    fn hit() {}
}

mod count_on_timer {
    #[metlog::timer(count = 2)]
    fn query() {}
}

mod count_zero {
    #[metlog::incr(count = 0)]
    fn hit() {}
}

mod duplicate_field {
    #[metlog::timer(fields(a = 1, a = 2))]
    fn query() {}
}

mod duplicate_name {
    #[metlog::timer("a", name = "b")]
    fn query() {}
}

mod duplicate_option {
    #[metlog::timer(rate = 0.5, rate = 0.1)]
    fn query() {}
}

mod empty_name {
    #[metlog::incr("")]
    fn hit() {}
}

mod field_float_infinite {
    #[metlog::timer(fields(ratio = 1.0e400))]
    fn query() {}
}

mod field_int_out_of_range {
    #[metlog::timer(fields(big = 99999999999999999999))]
    fn query() {}
}

mod field_not_a_literal {
    const KIND: &str = "x";
    #[metlog::timer(fields(kind = KIND))]
    fn query() {}
}

mod name_not_a_string {
    #[metlog::timer(name = db.query)]
    fn query() {}
}

mod name_on_impl_block {
    struct Repo;
    #[metlog::timer(name = "repo")]
    impl Repo {
        fn find(&self) {}
    }
}

mod not_a_function {
    #[metlog::incr]
    struct Config {
        port: u16,
    }
}

mod rate_not_a_number {
    #[metlog::timer(rate = "x")]
    fn query() {}
}

mod rate_out_of_range {
    #[metlog::timer(rate = 2.0)]
    fn query() {}
}

mod reserved_field {
    #[metlog::timer(fields(outcome = "mine"))]
    fn query() {}
}

mod severity_out_of_range {
    #[metlog::timer(severity = 9)]
    fn query() {}
}

mod severity_unknown_variant {
    #[metlog::timer(severity = Severity::Loud)]
    fn query() {}
}

mod skip_outside_impl {
    #[metlog::skip]
    fn helper() {}
}

mod trait_method_without_body {
    trait Store {
        #[metlog::timer]
        fn load(&self) -> u32;
    }
}

mod unknown_option {
    #[metlog::timer(nmae = "db.query")]
    fn query() {}
}

fn main() {}
