//! Parsing attribute arguments.
//!
//! Arguments are first read generically (`name = expr` or `name(a, b)`), so that one mistake
//! does not hide the next, then interpreted per macro in [`CacheArgs`] and [`InvalidateArgs`],
//! which report unknown and duplicate arguments in one place each.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitStr, Token};

use crate::errors::Errors;
use crate::suggest::did_you_mean;
use crate::ttl::Ttl;

/// One argument as written.
pub(crate) struct RawArg {
    pub(crate) name: Ident,
    pub(crate) value: RawValue,
}

pub(crate) enum RawValue {
    /// `name = expr`
    Expr(Expr),
    /// `name(a, b)`
    List(Punctuated<Expr, Token![,]>),
    /// `name` alone
    Flag,
}

pub(crate) struct RawArgs(pub(crate) Vec<RawArg>);

impl Parse for RawArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Vec::new();
        while !input.is_empty() {
            let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            let value = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                RawValue::Expr(input.parse()?)
            } else if input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in input);
                RawValue::List(content.parse_terminated(Expr::parse, Token![,])?)
            } else {
                RawValue::Flag
            };
            args.push(RawArg { name, value });
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(RawArgs(args))
    }
}

/// An argument that may be given once, remembering where it was given.
struct Once<T> {
    value: Option<(Ident, T)>,
}

impl<T> Default for Once<T> {
    fn default() -> Self {
        Once { value: None }
    }
}

impl<T> Once<T> {
    fn set(&mut self, name: &Ident, value: T, errors: &mut Errors) {
        if self.value.is_some() {
            errors.push(
                name.span(),
                format!("duplicate argument `{name}`; give it once"),
            );
        } else {
            self.value = Some((name.clone(), value));
        }
    }

    fn into_inner(self) -> Option<T> {
        self.value.map(|(_, value)| value)
    }

    fn name(&self) -> Option<&Ident> {
        self.value.as_ref().map(|(name, _)| name)
    }
}

/// The arguments of `#[cache(..)]`.
pub(crate) struct CacheArgs {
    pub(crate) key: Option<LitStr>,
    /// `None` when `ttl` was missing or invalid (already reported).
    pub(crate) ttl: Option<Ttl>,
    pub(crate) skip: Vec<Ident>,
    /// Where `cache_none = true` was written, if it was.
    pub(crate) cache_none: Option<Span>,
    pub(crate) cache: Option<Expr>,
}

const CACHE_ARGS: &[&str] = &["key", "ttl", "skip", "cache_none", "cache"];

impl CacheArgs {
    pub(crate) fn from_raw(raw: RawArgs, errors: &mut Errors) -> CacheArgs {
        let mut key = Once::default();
        let mut ttl = Once::default();
        let mut ttl_given = false;
        let mut skip = Once::default();
        let mut cache_none = Once::default();
        let mut cache = Once::default();
        for arg in raw.0 {
            let name = &arg.name;
            match name.to_string().as_str() {
                "key" => {
                    if let Some(lit) = expect_str(&arg, errors) {
                        key.set(name, lit, errors);
                    }
                }
                "ttl" => {
                    ttl_given = true;
                    if let Some(value) = expect_expr(&arg, "ttl = 3600` or `ttl = \"1h\"", errors) {
                        if let Some(parsed) = Ttl::parse(value, errors) {
                            ttl.set(name, parsed, errors);
                        }
                    }
                }
                "skip" => {
                    if let Some(idents) = expect_ident_list(&arg, errors) {
                        skip.set(name, idents, errors);
                    }
                }
                "cache_none" => {
                    if let Some(flag) = expect_bool(&arg, errors) {
                        cache_none.set(name, flag, errors);
                    }
                }
                "cache" => {
                    if let Some(value) = expect_expr(&arg, "cache = &MY_CACHE`", errors) {
                        cache.set(name, value.clone(), errors);
                    }
                }
                _ => unknown_argument(name, "cache", CACHE_ARGS, errors),
            }
        }
        let cache_none = match (cache_none.name().map(Ident::span), cache_none.into_inner()) {
            (Some(span), Some(flag)) if flag.value => Some(span),
            _ => None,
        };
        if !ttl_given {
            errors.push(
                Span::call_site(),
                "missing `ttl`; say how long entries live, e.g. `ttl = 3600` (seconds) or `ttl = \"1h\"`",
            );
        }
        CacheArgs {
            key: key.into_inner(),
            ttl: ttl.into_inner(),
            skip: skip.into_inner().unwrap_or_default(),
            cache_none,
            cache: cache.into_inner(),
        }
    }
}

/// The arguments of `#[invalidate(..)]`.
pub(crate) struct InvalidateArgs {
    pub(crate) keys: Vec<LitStr>,
    pub(crate) patterns: Vec<LitStr>,
    pub(crate) cache: Option<Expr>,
}

const INVALIDATE_ARGS: &[&str] = &["key", "keys", "pattern", "patterns", "cache"];

impl InvalidateArgs {
    pub(crate) fn from_raw(raw: RawArgs, errors: &mut Errors) -> InvalidateArgs {
        let mut key = Once::default();
        let mut keys = Once::default();
        let mut pattern = Once::default();
        let mut patterns = Once::default();
        let mut cache = Once::default();
        for arg in raw.0 {
            let name = &arg.name;
            match name.to_string().as_str() {
                "key" => {
                    if let Some(lit) = expect_str(&arg, errors) {
                        key.set(name, lit, errors);
                    }
                }
                "keys" => {
                    if let Some(list) = expect_str_array(&arg, errors) {
                        keys.set(name, list, errors);
                    }
                }
                "pattern" => {
                    if let Some(lit) = expect_str(&arg, errors) {
                        pattern.set(name, lit, errors);
                    }
                }
                "patterns" => {
                    if let Some(list) = expect_str_array(&arg, errors) {
                        patterns.set(name, list, errors);
                    }
                }
                "cache" => {
                    if let Some(value) = expect_expr(&arg, "cache = &MY_CACHE`", errors) {
                        cache.set(name, value.clone(), errors);
                    }
                }
                _ => unknown_argument(name, "invalidate", INVALIDATE_ARGS, errors),
            }
        }
        let mut all_keys: Vec<LitStr> = key.into_inner().into_iter().collect();
        all_keys.extend(keys.into_inner().unwrap_or_default());
        let mut all_patterns: Vec<LitStr> = pattern.into_inner().into_iter().collect();
        all_patterns.extend(patterns.into_inner().unwrap_or_default());
        InvalidateArgs {
            keys: all_keys,
            patterns: all_patterns,
            cache: cache.into_inner(),
        }
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

fn expect_bool(arg: &RawArg, errors: &mut Errors) -> Option<LitBool> {
    match &arg.value {
        RawValue::Flag => Some(LitBool::new(true, arg.name.span())),
        RawValue::Expr(Expr::Lit(ExprLit {
            lit: Lit::Bool(lit),
            ..
        })) => Some(lit.clone()),
        _ => {
            errors.push(
                arg.name.span(),
                format!("`{}` takes `true` or `false`", arg.name),
            );
            None
        }
    }
}

fn expect_ident_list(arg: &RawArg, errors: &mut Errors) -> Option<Vec<Ident>> {
    let RawValue::List(list) = &arg.value else {
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
