//! Parsing attribute arguments, each value checked on its own (durations, literals, flags).
//!
//! Arguments are first read generically (`name = expr`, a call such as `skip(a, b)` or
//! `get_user(id)`, or a bare `name`), so that one mistake does not hide the next, then
//! interpreted per macro in [`CacheArgs`] and [`InvalidateArgs`], which report unknown and
//! duplicate arguments in one place each.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitStr, Token};

use crate::duration::{Millis, parse_millis, parse_percent};
use crate::errors::Errors;
use crate::suggest::did_you_mean;

/// One argument as written.
struct RawArg {
    /// The argument's name; for a call, the called function's or method's name.
    name: Ident,
    value: RawValue,
}

enum RawValue {
    /// `name = expr`
    Expr(Expr),
    /// A call: `skip(a, b)`, `get_user(id)`, `users::get_user(id)`, `self.get(id)`.
    Call(Expr),
    /// `name` alone
    Flag,
}

impl RawValue {
    /// The arguments of a call.
    fn call_args(&self) -> Option<&Punctuated<Expr, Token![,]>> {
        match self {
            RawValue::Call(Expr::Call(call)) => Some(&call.args),
            RawValue::Call(Expr::MethodCall(call)) => Some(&call.args),
            _ => None,
        }
    }
}

/// The arguments as written, before each macro interprets them.
pub(crate) struct RawArgs(Vec<RawArg>);

/// One macro's arguments, interpreted from the generic [`RawArgs`].
pub(crate) trait MacroArgs: Sized {
    fn from_raw(raw: RawArgs, errors: &mut Errors) -> Self;
}

/// Parses an attribute's arguments; `None` if they are not arguments at all (reported).
pub(crate) fn parse<A: MacroArgs>(tokens: TokenStream, errors: &mut Errors) -> Option<A> {
    match syn::parse2::<RawArgs>(tokens) {
        Ok(raw) => Some(A::from_raw(raw, errors)),
        Err(error) => {
            errors.add(error);
            None
        }
    }
}

impl Parse for RawArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Vec::new();
        while !input.is_empty() {
            let arg = if input.peek2(Token![=]) && !input.peek2(Token![==]) {
                let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                input.parse::<Token![=]>()?;
                RawArg {
                    name,
                    value: RawValue::Expr(input.parse()?),
                }
            } else {
                let expr: Expr = input.parse()?;
                let name = match &expr {
                    Expr::Path(path) => path.path.get_ident().cloned(),
                    Expr::Call(call) => match &*call.func {
                        Expr::Path(path) => path.path.segments.last().map(|s| s.ident.clone()),
                        _ => None,
                    },
                    Expr::MethodCall(call) => Some(call.method.clone()),
                    _ => None,
                };
                let Some(name) = name else {
                    return Err(syn::Error::new_spanned(
                        expr,
                        "expected `name = value`, a flag such as `lock`, or a call such as `skip(db)` or `get_user(id)`",
                    ));
                };
                let value = match expr {
                    Expr::Path(_) => RawValue::Flag,
                    call => RawValue::Call(call),
                };
                RawArg { name, value }
            };
            args.push(arg);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(RawArgs(args))
    }
}

/// An argument that may be given once.
struct Once<T> {
    given: bool,
    value: Option<T>,
}

impl<T> Default for Once<T> {
    fn default() -> Self {
        Once {
            given: false,
            value: None,
        }
    }
}

impl<T> Once<T> {
    /// Reads `arg` with `parse`, or reports it as a duplicate. The one place duplicates are
    /// detected.
    fn read(
        &mut self,
        arg: &RawArg,
        errors: &mut Errors,
        parse: impl FnOnce(&RawArg, &mut Errors) -> Option<T>,
    ) {
        if self.given {
            let name = &arg.name;
            errors.push(
                name.span(),
                format!("duplicate argument `{name}`; give it once"),
            );
            return;
        }
        self.given = true;
        self.value = parse(arg, errors);
    }
}

/// The arguments of `#[cache(..)]`.
pub(crate) struct CacheArgs {
    pub(crate) key: Option<LitStr>,
    /// `None` when `ttl` was missing or invalid (already reported).
    pub(crate) ttl: Option<Millis>,
    pub(crate) skip: Vec<Ident>,
    /// Where `cache_none = true` was written, if it was (likewise for the other flags).
    pub(crate) cache_none: Option<Span>,
    pub(crate) cache: Option<Expr>,
    pub(crate) stale: Option<Millis>,
    pub(crate) fail_safe: Option<Span>,
    pub(crate) jitter_percent: Option<u8>,
    pub(crate) lock: Option<Span>,
    /// Where `near = false` was written, if it was.
    pub(crate) no_near: Option<Span>,
    pub(crate) tags: Vec<LitStr>,
}

const CACHE_ARGS: &[&str] = &[
    "key",
    "ttl",
    "skip",
    "cache_none",
    "cache",
    "stale",
    "fail_safe",
    "jitter",
    "lock",
    "near",
    "tags",
];

impl MacroArgs for CacheArgs {
    fn from_raw(raw: RawArgs, errors: &mut Errors) -> CacheArgs {
        CacheArgs::read(raw, "cache", CACHE_ARGS, errors)
    }
}

/// The arguments of `#[cache_batch(..)]`: those of `#[cache]` that apply to a batch.
pub(crate) struct BatchArgs(pub(crate) CacheArgs);

const BATCH_ARGS: &[&str] = &["key", "ttl", "skip", "cache", "jitter", "tags", "near"];

impl MacroArgs for BatchArgs {
    fn from_raw(raw: RawArgs, errors: &mut Errors) -> BatchArgs {
        BatchArgs(CacheArgs::read(raw, "cache_batch", BATCH_ARGS, errors))
    }
}

impl CacheArgs {
    /// Reads the arguments `known` to `#[attribute]`; any other is reported.
    fn read(raw: RawArgs, attribute: &str, known: &[&str], errors: &mut Errors) -> CacheArgs {
        let mut key = Once::default();
        let mut ttl = Once::default();
        let mut skip = Once::default();
        let mut cache_none = Once::default();
        let mut cache = Once::default();
        let mut stale = Once::default();
        let mut fail_safe = Once::default();
        let mut jitter = Once::default();
        let mut lock = Once::default();
        let mut near = Once::default();
        let mut tags = Once::default();
        for arg in &raw.0 {
            let name = arg.name.to_string();
            if !known.contains(&name.as_str()) {
                unknown_argument(&arg.name, attribute, known, errors);
                continue;
            }
            match name.as_str() {
                "key" => key.read(arg, errors, expect_str),
                "ttl" => ttl.read(arg, errors, expect_duration),
                "skip" => skip.read(arg, errors, expect_ident_list),
                "cache_none" => cache_none.read(arg, errors, expect_bool),
                "cache" => cache.read(arg, errors, expect_cache),
                "stale" => stale.read(arg, errors, expect_duration),
                "fail_safe" => fail_safe.read(arg, errors, expect_bool),
                "jitter" => jitter.read(arg, errors, |arg, errors| {
                    parse_percent(expect_expr(arg, "jitter = \"10%\"`", errors)?, errors)
                }),
                "lock" => lock.read(arg, errors, expect_bool),
                "near" => near.read(arg, errors, expect_bool),
                "tags" => tags.read(arg, errors, expect_str_array),
                _ => unreachable!("every known argument is read"),
            }
        }
        if !ttl.given {
            errors.push(
                Span::call_site(),
                "missing `ttl`; say how long entries live, e.g. `ttl = 3600` (seconds) or `ttl = \"1h\"`",
            );
        }
        let set = |flag: Option<LitBool>| flag.filter(|flag| flag.value).map(|flag| flag.span);
        CacheArgs {
            key: key.value,
            ttl: ttl.value,
            skip: skip.value.unwrap_or_default(),
            cache_none: set(cache_none.value),
            cache: cache.value,
            stale: stale.value,
            fail_safe: set(fail_safe.value),
            jitter_percent: jitter.value,
            lock: set(lock.value),
            no_near: near
                .value
                .filter(|flag: &LitBool| !flag.value)
                .map(|flag| flag.span),
            tags: tags.value.unwrap_or_default(),
        }
    }
}

/// The arguments of `#[invalidate(..)]`.
pub(crate) struct InvalidateArgs {
    pub(crate) keys: Vec<LitStr>,
    pub(crate) patterns: Vec<LitStr>,
    pub(crate) tags: Vec<LitStr>,
    /// Calls of `#[cache]` functions: delete exactly the entry each call would read.
    pub(crate) calls: Vec<Expr>,
    pub(crate) cache: Option<Expr>,
}

const INVALIDATE_ARGS: &[&str] = &["key", "keys", "pattern", "patterns", "tags", "cache"];

impl MacroArgs for InvalidateArgs {
    fn from_raw(raw: RawArgs, errors: &mut Errors) -> InvalidateArgs {
        let mut key = Once::default();
        let mut keys = Once::default();
        let mut pattern = Once::default();
        let mut patterns = Once::default();
        let mut tags = Once::default();
        let mut cache = Once::default();
        let mut calls = Vec::new();
        for arg in &raw.0 {
            match arg.name.to_string().as_str() {
                "key" => key.read(arg, errors, expect_str),
                "keys" => keys.read(arg, errors, expect_str_array),
                "pattern" => pattern.read(arg, errors, expect_str),
                "patterns" => patterns.read(arg, errors, expect_str_array),
                "tags" => tags.read(arg, errors, expect_str_array),
                "cache" => cache.read(arg, errors, expect_cache),
                _ => match &arg.value {
                    RawValue::Call(call) => calls.push(call.clone()),
                    _ => unknown_argument(&arg.name, "invalidate", INVALIDATE_ARGS, errors),
                },
            }
        }
        let one_and_many = |one: Option<LitStr>, many: Option<Vec<LitStr>>| {
            one.into_iter().chain(many.unwrap_or_default()).collect()
        };
        InvalidateArgs {
            keys: one_and_many(key.value, keys.value),
            patterns: one_and_many(pattern.value, patterns.value),
            tags: tags.value.unwrap_or_default(),
            calls,
            cache: cache.value,
        }
    }
}

/// The argument of `#[cache_put(..)]`: the call of a `#[cache]` function whose entry the
/// returned value becomes.
pub(crate) struct PutArgs {
    /// `None` when it was missing or not a call (reported).
    pub(crate) call: Option<Expr>,
}

impl MacroArgs for PutArgs {
    fn from_raw(raw: RawArgs, errors: &mut Errors) -> PutArgs {
        let mut calls = raw.0.into_iter().map(|arg| match arg.value {
            RawValue::Call(call) => Ok(call),
            _ => Err(arg.name),
        });
        let expected = "expected the call of a `#[cache]` function whose entry to write, such as `#[cache_put(get_user(user_id))]`";
        let call = match calls.next() {
            None => {
                errors.push(Span::call_site(), expected);
                return PutArgs { call: None };
            }
            Some(Err(name)) => {
                errors.push(name.span(), expected);
                return PutArgs { call: None };
            }
            Some(Ok(call)) => call,
        };
        if let Some(extra) = calls.next() {
            let span = match &extra {
                Ok(call) => syn::spanned::Spanned::span(call),
                Err(name) => name.span(),
            };
            errors.push(
                span,
                "`#[cache_put]` writes one entry; give one call, and write other entries with `Cache::set` or invalidate them with `#[invalidate]`",
            );
        }
        PutArgs { call: Some(call) }
    }
}

fn unknown_argument(name: &Ident, attribute: &str, known: &[&str], errors: &mut Errors) {
    let list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let hint = match did_you_mean(&name.to_string(), known.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? "),
        None => String::new(),
    };
    errors.push(
        name.span(),
        format!("unknown argument `{name}` for `#[{attribute}]`; {hint}expected one of {list}"),
    );
}

fn expect_expr<'a>(arg: &'a RawArg, example: &str, errors: &mut Errors) -> Option<&'a Expr> {
    match &arg.value {
        RawValue::Expr(expr) => Some(expr),
        _ => {
            errors.push(
                arg.name.span(),
                format!("`{}` needs a value, as in `{example}", arg.name),
            );
            None
        }
    }
}

fn expect_duration(arg: &RawArg, errors: &mut Errors) -> Option<Millis> {
    let example = format!("{} = 3600` or `{} = \"1h\"", arg.name, arg.name);
    parse_millis(
        &arg.name.to_string(),
        expect_expr(arg, &example, errors)?,
        errors,
    )
}

fn expect_cache(arg: &RawArg, errors: &mut Errors) -> Option<Expr> {
    expect_expr(arg, "cache = &MY_CACHE`", errors).cloned()
}

fn expect_str(arg: &RawArg, errors: &mut Errors) -> Option<LitStr> {
    let example = format!("{} = \"user:<user_id>\"`", arg.name);
    match expect_expr(arg, &example, errors)? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        other => {
            errors.push_spanned(
                other,
                format!(
                    "`{}` takes a string literal template, as in `{example}",
                    arg.name
                ),
            );
            None
        }
    }
}

fn expect_str_array(arg: &RawArg, errors: &mut Errors) -> Option<Vec<LitStr>> {
    let example = format!("{} = [\"user:<id>\", \"team:<team_id>\"]`", arg.name);
    match expect_expr(arg, &example, errors)? {
        Expr::Array(array) => {
            let mut lits = Vec::new();
            for elem in &array.elems {
                match elem {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(lit), ..
                    }) => lits.push(lit.clone()),
                    other => errors.push_spanned(
                        other,
                        format!("`{}` takes string literal templates", arg.name),
                    ),
                }
            }
            Some(lits)
        }
        other => {
            errors.push_spanned(
                other,
                format!("`{}` takes a list, as in `{example}", arg.name),
            );
            None
        }
    }
}

/// `name`, `name = true` or `name = false`; the result is spanned at `name`, so errors about
/// the argument point at it.
fn expect_bool(arg: &RawArg, errors: &mut Errors) -> Option<LitBool> {
    let value = match &arg.value {
        RawValue::Flag => true,
        RawValue::Expr(Expr::Lit(ExprLit {
            lit: Lit::Bool(lit),
            ..
        })) => lit.value,
        _ => {
            errors.push(
                arg.name.span(),
                format!("`{}` takes `true` or `false`", arg.name),
            );
            return None;
        }
    };
    Some(LitBool::new(value, arg.name.span()))
}

fn expect_ident_list(arg: &RawArg, errors: &mut Errors) -> Option<Vec<Ident>> {
    let Some(list) = arg.value.call_args() else {
        errors.push(
            arg.name.span(),
            format!(
                "`{}` takes a list of parameter names, as in `{}(db, ctx)`",
                arg.name, arg.name
            ),
        );
        return None;
    };
    let mut idents = Vec::new();
    for expr in list {
        match expr {
            Expr::Path(path) if path.path.get_ident().is_some() => {
                idents.extend(path.path.get_ident().cloned());
            }
            other => errors.push_spanned(
                other,
                format!("`{}` takes parameter names, such as `db`", arg.name),
            ),
        }
    }
    Some(idents)
}
