#[metlog::capture_stack(err)]
fn not_a_result() -> u8 {
    1
}

#[metlog::capture_stack(errors)]
fn unknown_option() {}

#[metlog::capture_stack(client = 3)]
fn client_not_text() {}

#[metlog::capture_stack]
struct NotAFunction;

#[metlog::capture_stack(err)]
fn not_an_error() -> Result<(), String> {
    Ok(())
}

#[track_caller]
#[metlog::capture_stack]
fn tracks_its_caller() {}

#[metlog::capture_stack]
const fn constant() -> u8 {
    1
}

fn main() {}
