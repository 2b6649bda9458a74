//! Durations in arguments (`ttl = 3600`, `stale = "5m"`, `ttl = USER_TTL`) and
//! `jitter = "10%"`: checked and turned into numbers at compile time.
//!
//! A literal is checked here. A path to a `const` cannot be (its value is the compiler's),
//! so it becomes a `const` item in the expansion that converts it (`u64` seconds or
//! `Duration`; any other type is a trait error at the path) and panics at compile time,
//! spanned at the path, when it is zero or too large.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprPath, ExprUnary, Lit, UnOp};

use crate::errors::Errors;

/// The longest `ttl` or `stale`: 100 years. Longer values overflow what Redis accepts as an
/// expiry (milliseconds from now as a signed 64-bit number), so nothing would ever be cached.
const MAX_MILLIS: u64 = 36_500 * 86_400_000;

const FORMS: &str = "use whole seconds (`3600`), a duration string (`\"500ms\"`, `\"90s\"`, `\"10m\"`, `\"1h\"`, `\"7d\"`) or a path to a `const` of type `u64` (seconds) or `std::time::Duration`";

/// A duration argument: a literal, checked, or a path to a `const`, checked by the compiler.
#[derive(Clone)]
pub(crate) enum Millis {
    Literal(u64),
    Const(ExprPath),
}

impl Millis {
    /// The milliseconds, as an expression. A `const` is converted (and, if `checked`, checked
    /// in a `const` item: zero and too large are compile errors, spanned at the path).
    pub(crate) fn value(&self, name: &str, checked: bool) -> TokenStream {
        let path = match self {
            Millis::Literal(millis) => return quote::quote!(#millis),
            Millis::Const(path) => path,
        };
        let span = path.span();
        let millis = quote_spanned! {span=>
            {
                #[allow(unused_imports)]
                use ::redcache::__private::DurationFallback as _;
                ::redcache::__private::AsMillis(#path).millis()
            }
        };
        if !checked {
            return millis;
        }
        let item = const_ident(name, span);
        let zero = format!("`{name}` must be greater than zero; {}", if_zero(name));
        let large = format!("`{name}` is too large; the longest is 100 years (`\"36500d\"`)");
        quote_spanned! {span=>
            {
                const #item: u64 = {
                    let millis = #millis;
                    if millis == 0 {
                        ::core::panic!(#zero);
                    }
                    if millis > #MAX_MILLIS {
                        ::core::panic!(#large);
                    }
                    millis
                };
                #item
            }
        }
    }
}

fn const_ident(name: &str, span: Span) -> syn::Ident {
    format_ident!("__REDCACHE_{}_MS", name.to_uppercase(), span = span)
}

/// Parses the value of the duration argument `name`.
pub(crate) fn parse_millis(name: &str, expr: &Expr, errors: &mut Errors) -> Option<Millis> {
    if let Expr::Path(path) = expr {
        return Some(Millis::Const(path.clone()));
    }
    let (millis, span) = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<u64>() {
            Ok(secs) => (secs.checked_mul(1000), int.span()),
            Err(_) => {
                errors.push(
                    int.span(),
                    format!("`{name}` is not a whole number of seconds: {FORMS}"),
                );
                return None;
            }
        },
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => match parse_duration(&text.value()) {
            Some(millis) => (Some(millis), text.span()),
            None => {
                errors.push(
                    text.span(),
                    format!(
                        "malformed duration {:?} for `{name}`; {FORMS}",
                        text.value()
                    ),
                );
                return None;
            }
        },
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => {
            errors.push_spanned(
                expr,
                format!("`{name}` must be positive; {}", if_zero(name)),
            );
            return None;
        }
        other => {
            errors.push_spanned(
                other,
                format!("`{name}` takes a literal or a path: {FORMS}"),
            );
            return None;
        }
    };
    match millis {
        Some(0) => {
            errors.push(
                span,
                format!("`{name}` must be greater than zero; {}", if_zero(name)),
            );
            None
        }
        Some(millis) if millis <= MAX_MILLIS => Some(Millis::Literal(millis)),
        _ => {
            errors.push(
                span,
                format!("`{name}` is too large; the longest is 100 years (`\"36500d\"`)"),
            );
            None
        }
    }
}

/// What a zero or negative value would have meant, and what to write instead.
fn if_zero(name: &str) -> String {
    match name {
        "ttl" => "an entry that lives no time caches nothing".to_owned(),
        _ => format!("to turn `{name}` off, remove it"),
    }
}

/// `"90s"` → 90_000. One number and one unit.
fn parse_duration(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number.checked_mul(unit_ms)
}

/// `jitter = "10%"`: a whole percentage from 1 to 99.
pub(crate) fn parse_percent(expr: &Expr, errors: &mut Errors) -> Option<u8> {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = expr
    else {
        errors.push_spanned(
            expr,
            "`jitter` takes a percentage string, as in `jitter = \"10%\"`",
        );
        return None;
    };
    let percent = text
        .value()
        .strip_suffix('%')
        .and_then(|number| number.parse::<u8>().ok())
        .filter(|percent| (1..=99).contains(percent));
    if percent.is_none() {
        errors.push(
            text.span(),
            format!(
                "malformed jitter {:?}; write a whole percentage from 1 to 99, as in `jitter = \"10%\"`",
                text.value()
            ),
        );
    }
    percent
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90_000));
        assert_eq!(parse_duration("10m"), Some(600_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        assert_eq!(parse_duration("7d"), Some(604_800_000));
        assert_eq!(parse_duration("250ms"), Some(250));
        assert_eq!(parse_duration("0s"), Some(0));
        assert_eq!(parse_duration("1.5h"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("10 m"), None);
    }
}
