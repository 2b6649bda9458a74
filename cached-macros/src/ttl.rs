//! `ttl = 3600` or `ttl = "1h"`: checked and turned into milliseconds at compile time.
use syn::{Expr, ExprLit, ExprUnary, Lit, UnOp};

use crate::errors::Errors;

pub(crate) struct Ttl {
    pub(crate) millis: u64,
}

const FORMS: &str = "use whole seconds (`ttl = 3600`) or a duration string: `\"500ms\"`, `\"90s\"`, `\"10m\"`, `\"1h\"`, `\"7d\"`";

impl Ttl {
    pub(crate) fn parse(expr: &Expr, errors: &mut Errors) -> Option<Ttl> {
        let (millis, span) = match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }) => match int.base10_parse::<u64>() {
                Ok(secs) => (secs.checked_mul(1000), int.span()),
                Err(_) => {
                    errors.push(
                        int.span(),
                        format!("`ttl` is not a whole number of seconds; {FORMS}"),
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
                        format!("malformed duration {:?} for `ttl`; {FORMS}", text.value()),
                    );
                    return None;
                }
            },
            Expr::Unary(ExprUnary {
                op: UnOp::Neg(_), ..
            }) => {
                errors.push_spanned(
                    expr,
                    "`ttl` must be positive: a negative lifetime caches nothing",
                );
                return None;
            }
            other => {
                errors.push_spanned(other, format!("`ttl` takes a literal: {FORMS}"));
                return None;
            }
        };
        match millis {
            Some(0) => {
                errors.push(
                    span,
                    "`ttl` must be greater than zero: a zero lifetime caches nothing",
                );
                None
            }
            Some(millis) => Some(Ttl { millis }),
            None => {
                errors.push(span, "`ttl` is too large");
                None
            }
        }
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
