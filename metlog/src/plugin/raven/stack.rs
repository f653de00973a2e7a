//! The event's stack: the frames of a backtrace, read as the application's
//! (the attribute's own frames folded away, the machinery left out).

use super::CallSite;

/// Frames of metlog's own machinery, the backtrace reader's and the
/// standard library's (the panic's), dropped from the innermost end.
fn is_machinery(function: &str) -> bool {
    let f = function.trim_start_matches(['<', '&', ':']);
    [
        "std::",
        "core::",
        "alloc::",
        "backtrace::",
        "metlog::",
        "__rustc",
        "rust_begin_unwind",
        "rust_panic",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

/// Not the application's: the culprit is the innermost frame that is.
pub(super) fn is_library(function: &str) -> bool {
    let f = function.trim_start_matches(['<', '&', ':']);
    is_machinery(function)
        || ["test::", "tokio::", "__libc", "_start"]
            .iter()
            .any(|p| f.starts_with(p))
}

/// One frame: `(module, function, file, line)`.
pub(super) type Frame = (String, String, String, u32);

/// How many frames an event holds: raven's limit for any list
/// (`list_max_length`, 50). raven keeps a stack's outermost 50; these are
/// the innermost, where the error or panic happened.
const MAX_FRAMES: usize = 50;

/// The frames of `trace`, outermost first, the innermost machinery left
/// out, and the frames `#[metlog::capture_stack]` adds folded away; at
/// most the innermost [`MAX_FRAMES`].
pub(super) fn frames(mut trace: backtrace::Backtrace, site: &CallSite) -> Vec<Frame> {
    crate::process::walking_stack(|| trace.resolve());
    // Innermost first: (name, file, line).
    let mut named: Vec<(String, String, u32)> = Vec::new();
    for symbol in trace
        .frames()
        .iter()
        .flat_map(backtrace::BacktraceFrame::symbols)
    {
        let (Some(name), Some(file), Some(line)) =
            (symbol.name(), symbol.filename(), symbol.lineno())
        else {
            continue;
        };
        // `{:#}`: without the hash suffix.
        let name = format!("{name:#}");
        if named.is_empty() && is_machinery(&name) {
            continue;
        }
        named.push((name, file.display().to_string(), line));
        // A bound on the work for a runaway recursion's stack.
        if named.len() == 8 * MAX_FRAMES {
            break;
        }
    }
    application_frames(named, site)
}

/// The event's frames from the stack's, innermost first as
/// `(name, file, line)`: the attribute's own frames folded away, at most
/// [`MAX_FRAMES`], outermost first; `site` stands in for a stack with none
/// of the application's.
fn application_frames(mut named: Vec<(String, String, u32)>, site: &CallSite) -> Vec<Frame> {
    // Frames below `folded` belong to an annotated call folded already.
    let (mut at, mut folded) = (0, 0);
    while at < named.len() {
        let (name, ..) = &named[at];
        if is_capture(name) && !name.ends_with("{{closure}}") && at + 1 < named.len() {
            at = fold_capture(&mut named, folded, at);
            folded = at;
        } else {
            at += 1;
        }
    }
    named.truncate(MAX_FRAMES);
    // Without debug information only the C library's frames have a file
    // and line (when its debug symbols are installed): not the stack.
    if named.iter().all(|(name, ..)| is_library(name)) {
        named.clear();
    }
    let mut frames: Vec<Frame> = named
        .into_iter()
        .map(|(name, file, line)| {
            let (module, function) = split_path(&name);
            (module, function, file, line)
        })
        .collect();
    if frames.is_empty() {
        frames.push((
            site.module.clone(),
            site.function.clone(),
            site.file.clone(),
            site.line,
        ));
    }
    frames.reverse();
    frames
}

/// `#[metlog::capture_stack]`'s own frames (`capture_call`,
/// `CaptureFuture::poll`).
fn is_capture(name: &str) -> bool {
    name.trim_start_matches('<')
        .starts_with("metlog::__private::capture::")
}

/// Folds away the frames the attribute adds around a body (the frames
/// below `folded` are an inner annotated call's, folded already): at `at` its
/// `capture_call`, inside it `catch_unwind`'s frames, then the body's
/// closure (`f::{{closure}}`), outside it the annotated function `f`. The
/// stack then reads as without the attribute: the closure's frame, with
/// its line, named `f`.
fn fold_capture(named: &mut Vec<(String, String, u32)>, folded: usize, at: usize) -> usize {
    let outer = named.remove(at + 1);
    named.remove(at);
    let mut inner = at;
    while inner > 0 && is_machinery(&named[inner - 1].0) {
        inner -= 1;
        named.remove(inner);
    }
    let body = format!("{}::{{{{closure}}}}", outer.0);
    if inner <= folded || !named[inner - 1].0.starts_with(&body) {
        // Not the closure (inlined away): the function's own frame stands.
        named.insert(inner, outer);
        return inner + 1;
    }
    // The body's frame and its own closures': one `::{{closure}}` less.
    for (name, ..) in &mut named[folded..inner] {
        if name.starts_with(&body) {
            name.replace_range(..body.len(), &outer.0);
        }
    }
    inner
}

/// `a::b::<T as c::D>::f` → (`a::b::<T as c::D>`, `f`): the last `::`
/// outside angle brackets.
fn split_path(name: &str) -> (String, String) {
    let mut depth = 0i32;
    let mut cut = None;
    let bytes = name.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => cut = Some(i),
            _ => {}
        }
    }
    match cut {
        // `f::{{closure}}`: the function is `f::{{closure}}`'s `f`, kept whole.
        Some(i) if name[i + 2..].starts_with("{{") => {
            let (module, function) = split_path(&name[..i]);
            (module, format!("{function}{}", &name[i..]))
        }
        Some(i) => (name[..i].to_owned(), name[i + 2..].to_owned()),
        None => (String::new(), name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::Location;

    fn named(names: &[&str]) -> Vec<(String, String, u32)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), "f.rs".to_owned(), 1))
            .collect()
    }

    fn functions(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .rev()
            .map(|(m, f, ..)| format!("{m}::{f}"))
            .collect()
    }

    fn site() -> CallSite {
        CallSite::caller(Location::caller())
    }

    /// The attribute's frames fold away, its closures' names with them
    /// (attack: a closure inside read `f::{{closure}}::{{closure}}`).
    #[test]
    fn the_attributes_frames_fold_away() {
        let stack = named(&[
            "app::f::{{closure}}::{{closure}}",
            "core::iter::Iterator::for_each",
            "app::f::{{closure}}",
            "core::panic::unwind_safe::call_once",
            "std::panicking::catch_unwind",
            "metlog::__private::capture::capture_call",
            "app::f",
            "app::main",
        ]);
        assert_eq!(
            functions(&application_frames(stack, &site())),
            [
                "app::f::{{closure}}",
                "core::iter::Iterator::for_each",
                "app::f",
                "app::main"
            ]
        );
        // An `async fn`: its body is a closure already.
        let stack = named(&[
            "app::g",
            "app::h::{{closure}}::{{closure}}",
            "<metlog::__private::capture::CaptureFuture<F> as core::future::future::Future>::poll::{{closure}}",
            "std::panicking::catch_unwind",
            "<metlog::__private::capture::CaptureFuture<F> as core::future::future::Future>::poll",
            "app::h::{{closure}}",
            "app::run",
        ]);
        assert_eq!(
            functions(&application_frames(stack, &site())),
            ["app::g", "app::h::{{closure}}", "app::run"]
        );
    }

    /// Recursive annotated calls fold each their own frames: a closure in
    /// the innermost keeps its name (attack: each fold stripped it again).
    #[test]
    fn recursive_annotated_calls_fold_each_their_own() {
        let call = [
            "std::panicking::catch_unwind",
            "metlog::__private::capture::capture_call",
        ];
        let mut stack = vec![
            "app::helper",
            "app::rec::{{closure}}::{{closure}}",
            "app::rec::{{closure}}",
        ];
        for _ in 0..2 {
            stack.extend(call);
            stack.extend(["app::rec", "app::rec::{{closure}}"]);
        }
        stack.extend(call);
        stack.extend(["app::rec", "app::main"]);
        assert_eq!(
            functions(&application_frames(named(&stack), &site())),
            [
                "app::helper",
                "app::rec::{{closure}}",
                "app::rec",
                "app::rec",
                "app::rec",
                "app::main"
            ]
        );
    }

    /// A stack with only the C library's frames (a release build without
    /// debug information, libc's symbols installed) is no stack: the site
    /// stands in (attack: every event named `__libc_start_call_main`).
    #[test]
    fn a_stack_of_libc_alone_gives_the_site() {
        let stack = named(&["__libc_start_call_main", "__libc_start_main_impl", "_start"]);
        let frames = application_frames(stack, &site());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].2, file!());
    }

    #[test]
    fn paths() {
        assert_eq!(split_path("a::b::f"), ("a::b".into(), "f".into()));
        assert_eq!(
            split_path("a::f::{{closure}}"),
            ("a".into(), "f::{{closure}}".into())
        );
        assert_eq!(
            split_path("<a::T as b::U>::f"),
            ("<a::T as b::U>".into(), "f".into())
        );
        assert_eq!(split_path("main"), (String::new(), "main".into()));
    }
}
