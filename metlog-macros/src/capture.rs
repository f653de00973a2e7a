//! `#[metlog::capture_stack]`: the body runs in `catch_unwind`; a panic is
//! reported as a `sentry` message and resumed, and with `err` a returned
//! `Err` is reported too.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Error, Expr, Lit, Meta, Token};

/// The attribute's options.
struct Options {
    err: bool,
    client: Option<String>,
}

fn parse_options(args: TokenStream) -> syn::Result<Options> {
    let mut options = Options {
        err: false,
        client: None,
    };
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    for meta in metas {
        match &meta {
            Meta::Path(path) if path.is_ident("err") && !options.err => options.err = true,
            Meta::NameValue(nv) if nv.path.is_ident("client") && options.client.is_none() => {
                match &nv.value {
                    Expr::Lit(lit) => match &lit.lit {
                        Lit::Str(s) if !s.value().is_empty() => options.client = Some(s.value()),
                        _ => {
                            return Err(Error::new_spanned(
                                &nv.value,
                                "`client` takes the name of a client: client = \"name\"",
                            ))
                        }
                    },
                    other => {
                        return Err(Error::new_spanned(
                            other,
                            "`client` takes the name of a client: client = \"name\"",
                        ))
                    }
                }
            }
            _ => {
                return Err(Error::new_spanned(
                    &meta,
                    "#[metlog::capture_stack] takes `err` and `client = \"name\"`, each once",
                ))
            }
        }
    }
    Ok(options)
}

/// Whether the return type is written as a `Result` (`err` needs one).
fn returns_result(output: &syn::ReturnType) -> bool {
    match output {
        syn::ReturnType::Type(_, ty) => match &**ty {
            syn::Type::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident.to_string().ends_with("Result")),
            _ => false,
        },
        syn::ReturnType::Default => false,
    }
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(out) => out,
        Err(err) => {
            let mut out = item;
            out.extend(err.to_compile_error());
            out
        }
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = parse_options(args)?;
    let mut function: syn::ItemFn = syn::parse2(item).map_err(|_| {
        Error::new(
            Span::call_site(),
            "#[metlog::capture_stack] goes on a function (fn or async fn)",
        )
    })?;
    check(&options, &function)?;
    let sig = &function.sig;
    let name = sig.ident.to_string();
    let client = match &options.client {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let setup = quote! {
        static __METLOG_CAPTURE: ::metlog::__private::CaptureSite = ::metlog::__private::CaptureSite {
            function: #name,
            module: ::core::module_path!(),
            client: #client,
        };
    };
    let output = match &sig.output {
        syn::ReturnType::Type(_, ty) => Some(crate::expand::impl_trait_inferred(ty)),
        syn::ReturnType::Default => None,
    };
    let nameable = output
        .as_ref()
        .filter(|ty| !matches!(ty, syn::Type::Infer(_)));
    let run = run(sig, &function.block.stmts, output.as_ref(), nameable);
    let body = if options.err {
        let ret = nameable.map(|ty| quote!(: #ty));
        quote! {{
            #setup
            let __metlog_result #ret = #run;
            if let ::core::result::Result::Err(__metlog_error) = &__metlog_result {
                #[allow(unused_imports)]
                use ::metlog::__private::{CaptureDerefError as _, CaptureError as _};
                (&::metlog::__private::ErrProbe(__metlog_error)).metlog_capture(&__METLOG_CAPTURE);
            }
            __metlog_result
        }}
    } else {
        quote! {{
            #setup
            #run
        }}
    };
    function.block = syn::parse2(body)?;
    Ok(quote!(#function))
}

/// What the attribute cannot take, said at the token.
fn check(options: &Options, function: &syn::ItemFn) -> syn::Result<()> {
    if let Some(constness) = &function.sig.constness {
        return Err(Error::new(
            constness.span,
            "#[metlog::capture_stack] cannot go on a `const fn`: it reports at run time",
        ));
    }
    if options.err && !returns_result(&function.sig.output) {
        return Err(Error::new_spanned(
            &function.sig.output,
            "#[metlog::capture_stack(err)] needs a function whose return type is a `Result` \
             (named as such: not `impl Trait` or an alias under another name)",
        ));
    }
    if let Some(attr) = function
        .attrs
        .iter()
        .find(|a| a.path().is_ident("track_caller"))
    {
        return Err(Error::new_spanned(
            attr,
            "#[metlog::capture_stack] cannot go with #[track_caller]: it runs the body in a \
             closure (to catch its panics), where a panic's location would be the function's \
             line rather than its caller's",
        ));
    }
    Ok(())
}

/// The call of the body, inside `catch_unwind` (its panic is reported, then
/// unwinds on), run as the timer macros run theirs: a closure made `FnOnce`
/// by a moved token, so it may return borrows of the arguments it owns,
/// `impl Trait` left to inference; `return`s and `?`s land here.
fn run(
    sig: &syn::Signature,
    stmts: &[syn::Stmt],
    output: Option<&syn::Type>,
    nameable: Option<&syn::Type>,
) -> TokenStream {
    if sig.asyncness.is_some() {
        let (_, fix_type) = crate::expand::async_return_type(output, nameable);
        quote!(::metlog::__private::capture_future(
            &__METLOG_CAPTURE,
            async move { #fix_type #(#stmts)* },
        ).await)
    } else {
        let ret = output.map_or_else(|| quote!(()), |ty| quote!(#ty));
        quote! {{
            let __metlog_once = ::metlog::__private::OnceToken;
            ::metlog::__private::capture_call(&__METLOG_CAPTURE, move || -> #ret {
                __metlog_once.consume();
                #(#stmts)*
            })
        }}
    }
}
