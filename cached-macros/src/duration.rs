//! Durations in arguments (`ttl = 3600`, `stale = "5m"`) and `jitter = "10%"`: checked and
//! turned into numbers at compile time.

use syn::{Expr, ExprLit, ExprUnary, Lit, UnOp};

use crate::errors::Errors;

/// The longest `ttl` or `stale`: 100 years. Longer values overflow what Redis accepts as an
/// expiry (milliseconds from now as a signed 64-bit number), so nothing would ever be cached.
const MAX_MILLIS: u64 = 36_500 * 86_400_000;

const FORMS: &str = "use whole seconds (`3600`) or a duration string: `\"500ms\"`, `\"90s\"`, `\"10m\"`, `\"1h\"`, `\"7d\"`";

/// Parses the value of the duration argument `name`, in milliseconds.
pub(crate) fn parse_millis(name: &str, expr: &Expr, errors: &mut Errors) -> Option<u64> {
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
            errors.push_spanned(other, format!("`{name}` takes a literal: {FORMS}"));
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
        Some(millis) if millis <= MAX_MILLIS => Some(millis),
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
