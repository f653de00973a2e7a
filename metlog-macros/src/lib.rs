//! Attribute macros for the [`metlog`](https://docs.rs/metlog) crate. Use
//! them through `metlog` — `#[metlog::timer]`, `#[metlog::incr]` — whose docs
//! describe every option; this crate is the code generator.
// No function over 80 lines (clippy.toml): each does one job.
#![warn(clippy::too_many_lines)]

mod attr;
mod capture;
mod expand;

use proc_macro::TokenStream;

use attr::MacroKind;

/// Reports how long each call of the function takes: a `timer` message. See
/// `metlog::timer` (the attribute) for the options.
#[proc_macro_attribute]
pub fn timer(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(MacroKind::Timer, args.into(), item.into()).into()
}

/// Counts the calls of the function: a `counter` message per call. See
/// `metlog::incr` (the attribute) for the options.
#[proc_macro_attribute]
pub fn incr(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(MacroKind::Incr, args.into(), item.into()).into()
}

/// Reports a panic of the function to Sentry (and, with `err`, a returned
/// `Err`): a `sentry` message through the client's `raven` plugin. See
/// `metlog::capture_stack` (the attribute, feature `raven`).
#[proc_macro_attribute]
pub fn capture_stack(args: TokenStream, item: TokenStream) -> TokenStream {
    capture::expand(args.into(), item.into()).into()
}

/// Leaves a method out of an `impl` block annotated with `#[metlog::timer]`
/// or `#[metlog::incr]`. Anywhere else it is an error.
#[proc_macro_attribute]
pub fn skip(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut out: proc_macro2::TokenStream = item.into();
    let message = if args.is_empty() {
        "#[metlog::skip] only has a meaning on a method inside an `impl` block annotated \
         with #[metlog::timer] or #[metlog::incr], which removes it"
    } else {
        "#[metlog::skip] takes no arguments"
    };
    out.extend(syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error());
    out.into()
}
