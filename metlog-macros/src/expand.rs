//! Code generation: wraps a function body in a metlog guard.
//!
//! The generated code names only `::metlog::__private::…` and `::core::…`,
//! and its locals have mixed-site hygiene, so a user's `mod metlog`, `mod core`
//! or a local of the same name cannot interfere.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Block, ImplItem, Item, ItemFn, ItemImpl, ReturnType, Signature, Type};

use crate::attr::{FieldValue, MacroKind, Options};

/// Expands the attribute on `item`; on error the item is kept as it was, so
/// the user sees one precise error rather than a cascade.
pub(crate) fn expand(kind: MacroKind, args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(kind, args, item.clone()) {
        Ok(tokens) => tokens,
        Err(err) => {
            let err = err.to_compile_error();
            quote!(#item #err)
        }
    }
}

fn try_expand(kind: MacroKind, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = Options::parse(kind, args)?;
    let parsed: Item = match syn::parse2(item.clone()) {
        Ok(parsed) => parsed,
        // Not even an item (a body with a syntax error): handed back as it
        // came, so rustc reports the real error, once, where it is — a
        // second error of ours would only mislead (tracing's attribute does
        // the same).
        Err(_) if is_bodyless_fn(&item) => return Err(not_applicable(kind, &item)),
        Err(_) => return Ok(item),
    };
    match parsed {
        Item::Fn(mut function) => {
            instrument_fn(kind, &options, &mut function, "")?;
            Ok(function.into_token_stream())
        }
        Item::Impl(mut block) => {
            instrument_impl(kind, &options, &mut block)?;
            Ok(block.into_token_stream())
        }
        other => Err(not_applicable(kind, &other.into_token_stream())),
    }
}

/// A trait method without a body (it parses as neither a fn nor an impl).
fn is_bodyless_fn(item: &TokenStream) -> bool {
    syn::parse2::<syn::TraitItemFn>(item.clone())
        .map(|f| f.default.is_none())
        .unwrap_or(false)
}

fn not_applicable(kind: MacroKind, item: &TokenStream) -> syn::Error {
    let message = if is_bodyless_fn(item) {
        format!(
            "#[metlog::{}] needs a function body; put it on the trait's implementations",
            kind.attr_name()
        )
    } else {
        format!(
            "#[metlog::{}] can only be applied to functions and `impl` blocks",
            kind.attr_name()
        )
    };
    let mut tokens = item.clone().into_iter();
    let first = tokens.next();
    let span = first.map_or_else(Span::call_site, |t| t.span());
    syn::Error::new(span, message)
}

fn instrument_fn(
    kind: MacroKind,
    options: &Options,
    function: &mut ItemFn,
    scope: &str,
) -> syn::Result<()> {
    let caller = tracks_caller(&function.attrs);
    let block = instrument(kind, options, &function.sig, &function.block, scope, caller)?;
    *function.block = block;
    Ok(())
}

/// Instruments every method of an `impl` block, naming each
/// `<module>.<Type>.<method>`. Methods marked `#[metlog::skip]`, `const fn`s,
/// and methods carrying their own attribute of the same kind are left alone.
fn instrument_impl(kind: MacroKind, options: &Options, block: &mut ItemImpl) -> syn::Result<()> {
    if options.name.is_some() {
        return Err(syn::Error::new(
            Span::call_site(),
            "`name` cannot be given for a whole `impl` block: each method is named \
             `<module>.<Type>.<method>`; put a named attribute on the method instead",
        ));
    }
    let scope = type_name(&block.self_ty);
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let before = method.attrs.len();
        method.attrs.retain(|attr| !is_metlog_attr(attr, "skip"));
        let skipped = method.attrs.len() != before;
        let own = method
            .attrs
            .iter()
            .any(|attr| is_metlog_attr(attr, kind.attr_name()));
        if skipped || own || method.sig.constness.is_some() {
            continue;
        }
        let caller = tracks_caller(&method.attrs);
        method.block = instrument(kind, options, &method.sig, &method.block, &scope, caller)?;
    }
    Ok(())
}

/// `metlog::<name>` (or `::metlog::<name>`).
fn is_metlog_attr(attr: &Attribute, name: &str) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segments.len() == 2 && segments[0] == "metlog" && segments[1] == name
}

/// The name of an impl's self type, e.g. `Cache` for `Cache<K, V>`.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(String::new, |s| s.ident.unraw().to_string()),
        Type::Reference(reference) => type_name(&reference.elem),
        Type::Group(group) => type_name(&group.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        other => other
            .to_token_stream()
            .to_string()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '_')
            .collect(),
    }
}

/// An `async fn`'s inner future: the annotation of its result, and the
/// statement that tells it its return type.
pub(crate) fn async_return_type(
    output: Option<&Type>,
    nameable: Option<&Type>,
) -> (TokenStream, TokenStream) {
    match (output, nameable) {
        (None, _) => (quote!(: ()), quote!()),
        (Some(_), Some(ty)) => (
            quote!(: #ty),
            // Tells the inner block its return type before the body is
            // checked, so `?` and `return` infer as in the original.
            // Spanned at the return type, where rustc's "return type
            // inferred here" note then points.
            {
                let never =
                    syn::Ident::new("__metlog_never", Span::mixed_site().located_at(ty.span()));
                quote_spanned! {ty.span()=>
                    if let ::core::option::Option::Some(#never) = ::core::option::Option::None::<#ty> {
                        #[allow(unreachable_code)]
                        return #never;
                    }
                }
            },
        ),
        (Some(_), None) => (quote!(), quote!()),
    }
}

/// The new body of an instrumented function.
fn instrument(
    kind: MacroKind,
    options: &Options,
    sig: &Signature,
    block: &Block,
    scope: &str,
    tracks_caller: bool,
) -> syn::Result<Block> {
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span,
            format!(
                "#[metlog::{}] cannot instrument a `const fn`: it sends a message at run time",
                kind.attr_name()
            ),
        ));
    }
    let site = site(kind, options, scope, &sig.ident.unraw().to_string());
    let guard = syn::Ident::new("__metlog_guard", Span::mixed_site());
    let ret = syn::Ident::new("__metlog_ret", Span::mixed_site());
    let once = syn::Ident::new("__metlog_once", Span::mixed_site());
    let stmts = &block.stmts;
    let output = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(&**ty),
    };
    // `impl Trait` cannot be written inside the body: it becomes `_`, left
    // to inference from the body (`Result<_, E>` still gives `?` its error
    // type and lets the outcome probe see the `Result`).
    let inferred = output.map(impl_trait_inferred);
    let nameable = inferred.as_ref().filter(|ty| !matches!(ty, Type::Infer(_)));

    if sig.asyncness.is_none() {
        if let Some(instrumented) = instrument_returned_future(&site, block) {
            return new_body(block, instrumented);
        }
        if let Some(ty) = output.filter(|ty| is_boxed_future(ty)) {
            // A boxed future, some returned early: whichever the body
            // returns is wrapped, timed from its first poll to completion.
            let body = quote! {
                #site
                let #once = ::metlog::__private::OnceToken;
                #[allow(clippy::redundant_closure_call)]
                let #ret: #ty = (move || -> #ty {
                    #once.consume();
                    #(#stmts)*
                })();
                ::std::boxed::Box::pin(::metlog::__private::Timed::new(
                    &__METLOG_SITE,
                    #ret,
                    |output| ::metlog::__private::outcome_of!(output),
                ))
            };
            return new_body(block, body);
        }
    }

    let body = if sig.asyncness.is_some() {
        // Time from first poll to completion: the body runs in an inner
        // future so that its `return`s land here; a future dropped before
        // completion drops the guard unfinished, which reports `cancelled`.
        let (annotation, fix_type) = async_return_type(output, nameable);
        // The inner future's braces are located at the user's, so a body of
        // the wrong type is reported there, not at the attribute.
        let at_body = Span::call_site().located_at(block.brace_token.span.join());
        let mut inner =
            proc_macro2::Group::new(proc_macro2::Delimiter::Brace, quote!(#fix_type #(#stmts)*));
        inner.set_span(at_body);
        let inner = quote_spanned!(at_body=> async move #inner);
        quote! {
            #site
            let mut #guard = ::metlog::__private::enter(&__METLOG_SITE, true);
            let #ret #annotation = #inner.await;
            #guard.complete(::metlog::__private::outcome_of!(&#ret));
            #ret
        }
    } else if let Some(ty) = nameable.filter(|ty| !tracks_caller && probed(ty)) {
        // A `Result`: run the body in a closure so every `return`, `?` and
        // early-returning macro (`bail!`) yields the value to inspect. The
        // moved token makes the closure `FnOnce`, so it may return borrows of
        // the arguments it owns, as the function could.
        quote! {
            #site
            let mut #guard = ::metlog::__private::enter(&__METLOG_SITE, false);
            let #once = ::metlog::__private::OnceToken;
            #[allow(clippy::redundant_closure_call)]
            let #ret: #ty = (move || -> #ty {
                #once.consume();
                #(#stmts)*
            })();
            #guard.complete(::metlog::__private::outcome_of!(&#ret));
            #ret
        }
    } else {
        // Anything else: the guard alone covers normal and early returns
        // (`ok`) and unwinding (`panic`).
        let block = as_generated(block);
        quote! {
            #site
            let #guard = ::metlog::__private::enter(&__METLOG_SITE, false);
            #block
        }
    };
    new_body(block, body)
}

/// The function's new body, its braces located at the user's: the function
/// item then spans the user's code, so lints about the whole function
/// (clippy's `unnecessary_wraps`, …) point at it rather than the attribute.
fn new_body(user: &Block, stmts: TokenStream) -> syn::Result<Block> {
    let mut body: Block = syn::parse2(quote!({ #stmts }))?;
    let at_body = Span::call_site().located_at(user.brace_token.span.join());
    body.brace_token = syn::token::Brace(at_body);
    Ok(body)
}

/// The user's block, its braces marked as generated but still located where
/// the user wrote them. Nested as the tail of the new body, a one-line
/// `{ x + 1 }` would otherwise draw rustc's `unused_braces` warning at the
/// user's line (and `cargo fix` would delete braces the function needs);
/// rustc does not lint braces that come from a macro expansion. Errors about
/// the block still point at the user's braces.
fn as_generated(block: &Block) -> Block {
    let mut block = block.clone();
    let user = block.brace_token.span.join();
    block.brace_token = syn::token::Brace(Span::call_site().located_at(user));
    block
}

/// A function that returns a future it builds as its last expression —
/// `async move { … }` or `Box::pin(async move { … })`, which is also what
/// `#[async_trait]` makes of an `async fn` — is timed inside that future,
/// from its first poll to completion, not while it is merely constructed.
fn instrument_returned_future(site: &TokenStream, block: &Block) -> Option<TokenStream> {
    // A body that can `return` another future early would have only its
    // last one instrumented: a boxed one is wrapped whole instead (see
    // `is_boxed_future`), any other timed like any other function.
    if returns_early(block) {
        return None;
    }
    let (last, init) = block.stmts.split_last()?;
    let syn::Stmt::Expr(tail, None) = last else {
        return None;
    };
    let (async_block, rebuild): (&syn::ExprAsync, Box<dyn Fn(TokenStream) -> TokenStream>) =
        match tail {
            syn::Expr::Async(async_block) => (async_block, Box::new(|fut| fut)),
            syn::Expr::Call(call) if call.args.len() == 1 && is_box_pin(&call.func) => {
                let syn::Expr::Async(async_block) = &call.args[0] else {
                    return None;
                };
                let func = call.func.clone();
                (async_block, Box::new(move |fut| quote!(#func(#fut))))
            }
            _ => return None,
        };
    let guard = syn::Ident::new("__metlog_guard", Span::mixed_site());
    let ret = syn::Ident::new("__metlog_ret", Span::mixed_site());
    let attrs = &async_block.attrs;
    let capture = &async_block.capture;
    let stmts = &async_block.block.stmts;
    let future = quote! {
        #(#attrs)*
        async #capture {
            #site
            let mut #guard = ::metlog::__private::enter(&__METLOG_SITE, true);
            let #ret = async #capture { #(#stmts)* }.await;
            #guard.complete(::metlog::__private::outcome_of!(&#ret));
            #ret
        }
    };
    let tail = rebuild(future);
    Some(quote!(#(#init)* #tail))
}

/// Whether `block` has a `return` of its own (not one inside a closure, an
/// `async` block or a nested item, which return from those).
fn returns_early(block: &Block) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_expr_return(&mut self, _: &'ast syn::ExprReturn) {
            self.0 = true;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            // A macro may expand to a `return` (`bail!`, `ensure!`): assume
            // it might, unless it is a well-known one that does not.
            let name = mac.path.segments.last().map(|s| s.ident.to_string());
            let harmless = matches!(
                name.as_deref(),
                Some(
                    "println"
                        | "eprintln"
                        | "print"
                        | "eprint"
                        | "format"
                        | "vec"
                        | "write"
                        | "writeln"
                        | "assert"
                        | "assert_eq"
                        | "assert_ne"
                        | "debug_assert"
                        | "debug_assert_eq"
                        | "debug_assert_ne"
                        | "panic"
                        | "unreachable"
                        | "todo"
                        | "unimplemented"
                        | "info"
                        | "warn"
                        | "error"
                        | "debug"
                        | "trace"
                        | "dbg"
                        | "matches"
                )
            );
            if !harmless {
                self.0 = true;
            }
        }
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_block(&mut finder, block);
    finder.0
}

/// `Box::pin`, `std::boxed::Box::pin`, `::alloc::boxed::Box::pin`, …
fn is_box_pin(func: &syn::Expr) -> bool {
    let syn::Expr::Path(path) = func else {
        return false;
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segments.ends_with(&["Box".to_owned(), "pin".to_owned()])
}

/// `Pin<Box<dyn Future<…> …>>`, or the `futures` crate's aliases for it
/// (`BoxFuture`, `LocalBoxFuture`): a type a wrapped future coerces to.
fn is_boxed_future(ty: &Type) -> bool {
    fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
        match ty {
            Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
            Type::Group(group) => last_segment(&group.elem),
            Type::Paren(paren) => last_segment(&paren.elem),
            _ => None,
        }
    }
    fn first_type_arg(segment: &syn::PathSegment) -> Option<&Type> {
        let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
    }
    let Some(segment) = last_segment(ty) else {
        return false;
    };
    if segment.ident == "BoxFuture" || segment.ident == "LocalBoxFuture" {
        return true;
    }
    if segment.ident != "Pin" {
        return false;
    }
    let Some(boxed) = first_type_arg(segment)
        .and_then(last_segment)
        .filter(|s| s.ident == "Box")
    else {
        return false;
    };
    let Some(Type::TraitObject(object)) = first_type_arg(boxed) else {
        return false;
    };
    object.bounds.iter().any(|bound| {
        matches!(bound, syn::TypeParamBound::Trait(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "Future"))
    })
}

/// The `static` describing this call site.
fn site(kind: MacroKind, options: &Options, scope: &str, function: &str) -> TokenStream {
    let kind_tokens = match kind {
        MacroKind::Timer => quote!(::metlog::__private::Kind::Timer),
        MacroKind::Incr => quote!(::metlog::__private::Kind::Incr),
    };
    let name = option_str(options.name.as_deref());
    let name_positional = options.name_positional;
    let logger = option_str(options.logger.as_deref());
    let client = option_str(options.client.as_deref());
    let rate = proc_macro2::Literal::f64_unsuffixed(options.rate.unwrap_or(1.0));
    let severity = match options.severity {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    };
    let count = proc_macro2::Literal::i64_unsuffixed(options.count.unwrap_or(1));
    let fields = options.fields.iter().map(|(key, value)| {
        let value = match value {
            FieldValue::Str(s) => quote!(::metlog::__private::FieldLit::Str(#s)),
            FieldValue::Int(n) => {
                let n = proc_macro2::Literal::i64_unsuffixed(*n);
                quote!(::metlog::__private::FieldLit::Int(#n))
            }
            FieldValue::Float(f) => {
                let f = proc_macro2::Literal::f64_unsuffixed(*f);
                quote!(::metlog::__private::FieldLit::Float(#f))
            }
            FieldValue::Bool(b) => quote!(::metlog::__private::FieldLit::Bool(#b)),
        };
        quote!((#key, #value))
    });
    quote! {
        static __METLOG_STATE: ::metlog::__private::SiteState = ::metlog::__private::SiteState::new();
        static __METLOG_SITE: ::metlog::__private::Site = ::metlog::__private::Site {
            kind: #kind_tokens,
            module_path: ::core::module_path!(),
            scope: #scope,
            function: #function,
            name: #name,
            name_positional: #name_positional,
            rate: #rate,
            severity: #severity,
            logger: #logger,
            fields: &[#(#fields),*],
            client: #client,
            count: #count,
            state: &__METLOG_STATE,
        };
    }
}

fn option_str(value: Option<&str>) -> TokenStream {
    match value {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

/// Whether the function is `#[track_caller]`: its body then runs as it is
/// (a closure around it would report its own location to
/// `Location::caller()`), and an `Err` it returns is reported as `ok`.
fn tracks_caller(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("track_caller"))
}

/// Whether the returned value is looked at (`err` when it is an `Err`):
/// every named type — whether it is a `Result` cannot be told from its
/// spelling (`type Fallible = Result<u32, String>`), so the value is asked,
/// by the same method-resolution probe as for `async fn`. References,
/// tuples, `()` and the like cannot be `Result`s.
fn probed(ty: &Type) -> bool {
    match ty {
        Type::Path(_) => true,
        Type::Group(group) => probed(&group.elem),
        Type::Paren(paren) => probed(&paren.elem),
        _ => false,
    }
}

/// The type with every `impl Trait` in it replaced by `_`: the same type as
/// far as the body is concerned, in a form it can name.
pub(crate) fn impl_trait_inferred(ty: &Type) -> Type {
    struct Infer;
    impl syn::visit_mut::VisitMut for Infer {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(impl_trait) = ty {
                let span = impl_trait.impl_token.span;
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](span),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    syn::visit_mut::VisitMut::visit_type_mut(&mut Infer, &mut ty);
    ty
}
