//! Typed options of `#[metlog::timer(...)]` and `#[metlog::incr(...)]`.
//!
//! Every option is parsed into a typed value once, checked, and reported with
//! the span of the offending token.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitStr, Token, UnOp};

/// Which attribute macro is being expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MacroKind {
    Timer,
    Incr,
}

impl MacroKind {
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            MacroKind::Timer => "timer",
            MacroKind::Incr => "incr",
        }
    }

    fn options(self) -> &'static str {
        match self {
            MacroKind::Timer => "name, rate, severity, logger, fields, client",
            MacroKind::Incr => "name, count, rate, severity, logger, fields, client",
        }
    }
}

/// A literal value of the `fields(...)` option.
#[derive(Clone, Debug)]
pub(crate) enum FieldValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// The parsed options.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) name: Option<String>,
    /// The name came as a bare string first (`"x"`, metlog-py's
    /// `@timeit('x')`), not as `name = "x"`.
    pub(crate) name_positional: bool,
    pub(crate) rate: Option<f64>,
    pub(crate) severity: Option<u8>,
    pub(crate) logger: Option<String>,
    pub(crate) fields: Vec<(String, FieldValue)>,
    pub(crate) client: Option<String>,
    pub(crate) count: Option<i64>,
    seen_fields: bool,
}

/// Field keys the macro writes itself.
const RESERVED_FIELDS: [&str; 3] = ["name", "rate", "outcome"];

const SEVERITIES: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

impl Options {
    pub(crate) fn parse(kind: MacroKind, args: TokenStream) -> syn::Result<Options> {
        let parser = |input: ParseStream<'_>| Options::parse_stream(kind, input);
        parser.parse2(args)
    }

    fn parse_stream(kind: MacroKind, input: ParseStream<'_>) -> syn::Result<Options> {
        let mut options = Options::default();
        let mut first = true;
        while !input.is_empty() {
            if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                if !first || options.name.is_some() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "a bare string names the metric and must come first; use `name = \"…\"` here",
                    ));
                }
                options.name = Some(non_empty(&lit, "name")?);
                options.name_positional = true;
            } else {
                let key = input.call(Ident::parse_any)?;
                options.parse_option(kind, &key, input)?;
            }
            first = false;
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(options)
    }

    fn parse_option(
        &mut self,
        kind: MacroKind,
        key: &Ident,
        input: ParseStream<'_>,
    ) -> syn::Result<()> {
        let key_name = key.unraw().to_string();
        match key_name.as_str() {
            "fields" => {
                if std::mem::replace(&mut self.seen_fields, true) {
                    return Err(duplicate(key));
                }
                let content;
                syn::parenthesized!(content in input);
                self.parse_fields(&content)
            }
            "name" => {
                let value = parse_string(key, input)?;
                set_once(&mut self.name, value, key)
            }
            "logger" => {
                let value = parse_string(key, input)?;
                set_once(&mut self.logger, value, key)
            }
            "client" => {
                let value = parse_string(key, input)?;
                set_once(&mut self.client, value, key)
            }
            "rate" => {
                input.parse::<Token![=]>()?;
                let expr: Expr = input.parse()?;
                let rate = match number(&expr) {
                    Some(Number::Float(f)) => f,
                    Some(Number::Int(i)) => i as f64,
                    None => return Err(syn::Error::new_spanned(
                        &expr,
                        "`rate` must be a number literal between 0.0 and 1.0, e.g. `rate = 0.1`",
                    )),
                };
                if !(0.0..=1.0).contains(&rate) {
                    return Err(syn::Error::new_spanned(
                        &expr,
                        format!("`rate` must be between 0.0 and 1.0 (the fraction of calls to report), not {rate:?}"),
                    ));
                }
                set_once(&mut self.rate, rate, key)
            }
            "severity" => {
                input.parse::<Token![=]>()?;
                let expr: Expr = input.parse()?;
                let severity = severity(&expr)?;
                set_once(&mut self.severity, severity, key)
            }
            "count" if kind == MacroKind::Incr => {
                input.parse::<Token![=]>()?;
                let expr: Expr = input.parse()?;
                let count = match number(&expr) {
                    Some(Number::Int(0)) => {
                        return Err(syn::Error::new_spanned(
                            &expr,
                            "`count = 0` would report nothing; remove the attribute or use a non-zero count",
                        ))
                    }
                    Some(Number::Int(n)) => n,
                    _ => {
                        return Err(syn::Error::new_spanned(
                            &expr,
                            "`count` must be an integer literal, e.g. `count = 2`",
                        ))
                    }
                };
                set_once(&mut self.count, count, key)
            }
            "count" => Err(syn::Error::new(
                key.span(),
                "`count` is an option of #[metlog::incr]; a timer reports elapsed time",
            )),
            _ => Err(syn::Error::new(
                key.span(),
                format!(
                    "unknown option `{key_name}` of #[metlog::{}]; expected one of: {}",
                    kind.attr_name(),
                    kind.options()
                ),
            )),
        }
    }

    fn parse_fields(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        while !input.is_empty() {
            let (key, span) = if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                (non_empty(&lit, "field name")?, lit.span())
            } else {
                let ident = input.call(Ident::parse_any)?;
                (ident.unraw().to_string(), ident.span())
            };
            if RESERVED_FIELDS.contains(&key.as_str()) {
                return Err(syn::Error::new(
                    span,
                    format!("field `{key}` is written by the macro itself; choose another key"),
                ));
            }
            if self.fields.iter().any(|(k, _)| *k == key) {
                return Err(syn::Error::new(span, format!("duplicate field `{key}`")));
            }
            input.parse::<Token![=]>()?;
            let expr: Expr = input.parse()?;
            check_number_fits(&expr)?;
            let value = match (&expr, number(&expr)) {
                (_, Some(Number::Int(n))) => FieldValue::Int(n),
                (_, Some(Number::Float(f))) => FieldValue::Float(f),
                (
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }),
                    _,
                ) => FieldValue::Str(s.value()),
                (
                    Expr::Lit(ExprLit {
                        lit: Lit::Bool(b), ..
                    }),
                    _,
                ) => FieldValue::Bool(b.value),
                _ => {
                    return Err(syn::Error::new_spanned(
                        &expr,
                        "a field value must be a literal: a string, integer, float or bool",
                    ))
                }
            };
            self.fields.push((key, value));
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    }
}

fn duplicate(key: &Ident) -> syn::Error {
    syn::Error::new(key.span(), format!("duplicate `{}` option", key.unraw()))
}

fn set_once<T>(slot: &mut Option<T>, value: T, key: &Ident) -> syn::Result<()> {
    if slot.is_some() {
        return Err(duplicate(key));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_string(key: &Ident, input: ParseStream<'_>) -> syn::Result<String> {
    input.parse::<Token![=]>()?;
    let expr: Expr = input.parse()?;
    match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => non_empty(lit, &key.unraw().to_string()),
        _ => Err(syn::Error::new_spanned(
            &expr,
            format!(
                "`{}` must be a string literal, e.g. `{} = \"…\"`",
                key.unraw(),
                key.unraw()
            ),
        )),
    }
}

fn non_empty(lit: &LitStr, what: &str) -> syn::Result<String> {
    let value = lit.value();
    if value.trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            format!("{what} must not be empty"),
        ));
    }
    Ok(value)
}

enum Number {
    Int(i64),
    Float(f64),
}

/// A number literal, possibly negated.
fn number(expr: &Expr) -> Option<Number> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse().ok().map(Number::Int),
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse().ok().map(Number::Float),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match number(expr)? {
            Number::Int(i) => Some(Number::Int(-i)),
            Number::Float(f) => Some(Number::Float(-f)),
        },
        Expr::Group(group) => number(&group.expr),
        _ => None,
    }
}

/// A number literal that does not fit a field value: an integer beyond
/// `i64`, a float beyond `f64` (infinite): a pointed error, not a
/// misleading "must be a literal" (or a panic).
fn check_number_fits(expr: &Expr) -> syn::Result<()> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) if i.base10_parse::<i64>().is_err() => Err(syn::Error::new(
            i.span(),
            "integer field value out of range: it must fit in an i64",
        )),
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) if !f.base10_parse::<f64>().is_ok_and(f64::is_finite) => Err(syn::Error::new(
            f.span(),
            "float field value out of range: it must be a finite f64",
        )),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => check_number_fits(expr),
        Expr::Group(group) => check_number_fits(&group.expr),
        _ => Ok(()),
    }
}

/// `5`, `Severity::Notice` or `metlog::Severity::Notice` → 5.
fn severity(expr: &Expr) -> syn::Result<u8> {
    let invalid = || {
        syn::Error::new_spanned(
            expr,
            "`severity` must be 0-7 or a `Severity` variant, e.g. `severity = 4` or \
             `severity = Severity::Warning`",
        )
    };
    match expr {
        Expr::Path(path) => {
            let last = path.path.segments.last().ok_or_else(invalid)?;
            SEVERITIES
                .iter()
                .position(|name| last.ident == name)
                .map(|i| i as u8)
                .ok_or_else(invalid)
        }
        _ => match number(expr) {
            Some(Number::Int(n)) if (0..=7).contains(&n) => Ok(n as u8),
            _ => Err(invalid()),
        },
    }
}
