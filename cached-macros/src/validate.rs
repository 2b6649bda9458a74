//! Validation: the rules that tie a macro's arguments to the function it annotates, each
//! reported at the user's own token with the fix, into the one [`Errors`] channel.
//!
//! Parsing (`args`, `template`, `duration`) has already rejected what is malformed on its own;
//! what is checked here needs two things at once: the function and its arguments, a template
//! and the parameters, an option and the return type.

use syn::{Ident, ReturnType, Signature, Type};

use crate::args::{CacheArgs, InvalidateArgs};
use crate::errors::Errors;
use crate::signature::{Params, Shape, contains_impl_trait};
use crate::template::Template;

/// Both macros work on `async fn` only.
pub(crate) fn is_async(sig: &Signature, attribute: &str, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            format!(
                "`#[{attribute}]` works on `async fn` only; declare it as `async fn {}`",
                sig.ident
            ),
        );
    }
}

/// `#[cache]` and `#[cache_put]`: the return type, if it is a value that can be stored.
pub(crate) fn stored_return_type<'a>(
    sig: &'a Signature,
    attribute: &str,
    errors: &mut Errors,
) -> Option<&'a Type> {
    match &sig.output {
        ReturnType::Default => {
            let fix = if attribute == "cache_put" {
                "return the value to write, or use `#[invalidate]` to delete the entry instead"
            } else {
                "use `#[invalidate]` for functions that change data"
            };
            errors.push(
                sig.ident.span(),
                format!(
                    "`#[{attribute}]` needs a return value to cache, and `{}` returns `()`; {fix}",
                    sig.ident
                ),
            );
            None
        }
        ReturnType::Type(_, ty) if contains_impl_trait(ty) => {
            errors.push_spanned(
                ty,
                format!("`#[{attribute}]` cannot store an `impl Trait` return type; return a concrete type that implements `Serialize` and `Deserialize`"),
            );
            None
        }
        ReturnType::Type(_, ty) => Some(ty),
    }
}

/// `#[cache]`: every parameter has a name, to put it in the key or in `skip(..)`.
pub(crate) fn params_named(params: &Params, errors: &mut Errors) {
    for pattern in &params.unnamed {
        errors.push_spanned(
            pattern,
            "`#[cache]` needs a name for every argument, to put it in the key or in `skip(..)`; bind this pattern to a name and destructure it in the body",
        );
    }
}

/// `skip(..)` names parameters, each once.
pub(crate) fn skip_list(skip: &[Ident], params: &Params, errors: &mut Errors) {
    for (i, name) in skip.iter().enumerate() {
        if skip[..i].contains(name) {
            errors.push(
                name.span(),
                format!("`{name}` is listed twice in `skip(..)`"),
            );
        } else if params.find(&name.to_string()).is_none() {
            let hint = match params.closest(&name.to_string()) {
                Some(close) => format!("; did you mean `{close}`?"),
                None => String::new(),
            };
            errors.push(
                name.span(),
                format!("`skip({name})` names no parameter of this function{hint}"),
            );
        }
    }
}

/// Every placeholder of `template` names a parameter; `false` if one does not.
pub(crate) fn placeholders(template: &Template, params: &Params, errors: &mut Errors) -> bool {
    let mut ok = true;
    for placeholder in template.placeholders() {
        if params.find(&placeholder.root).is_some() {
            continue;
        }
        let hint = match params.closest(&placeholder.root) {
            Some(close) => format!("; did you mean `<{close}>`?"),
            None if params.named.is_empty() => "; the function has no parameters".to_owned(),
            None => {
                let names: Vec<String> = params.names().collect();
                format!("; the parameters are `{}`", names.join("`, `"))
            }
        };
        errors.push(
            template.span(),
            format!(
                "unknown placeholder `{}`: no parameter is named `{}`{hint}",
                placeholder.written, placeholder.root
            ),
        );
        ok = false;
    }
    ok
}

/// `#[cache]`: every parameter is in the key or in `skip(..)`, and not both, so two calls that
/// differ in an argument never share a value. `template` is `None` for the default key, which
/// holds every parameter not skipped, and which `self` cannot be part of.
pub(crate) fn key_coverage(
    template: Option<&Template>,
    skip: &[Ident],
    params: &Params,
    errors: &mut Errors,
) {
    for param in &params.named {
        let name = param.ident.to_string();
        let skipped = skip.iter().find(|s| **s == name);
        let Some(template) = template else {
            if skipped.is_none() && param.is_receiver() {
                errors.push_spanned(
                    &param.tokens,
                    "`self` cannot be part of a default key; add `skip(self)`, or write a `key = ..` that reads fields through it, as in `<self.id>`",
                );
            }
            continue;
        };
        let in_key = template.roots().any(|root| root == name);
        match (in_key, skipped) {
            (true, Some(skipped)) => errors.push(
                skipped.span(),
                format!("`{name}` is both in the key and in `skip(..)`; remove it from `skip(..)`"),
            ),
            (false, None) if param.is_receiver() => errors.push_spanned(
                &param.tokens,
                "`self` is not part of the key; read a field through it, as in `<self.id>`, or add `skip(self)`",
            ),
            (false, None) => errors.push_spanned(
                &param.tokens,
                format!(
                    "parameter `{name}` is not part of the key, so calls that differ only in `{name}` would share one cached value; add `<{name}>` to the key or `skip({name})`"
                ),
            ),
            _ => {}
        }
    }
}

/// `#[cache]`: the options fit the return type's `shape` and each other.
pub(crate) fn cache_options(args: &CacheArgs, shape: Shape, errors: &mut Errors) {
    if let Some(span) = args.cache_none {
        if !shape.has_none() {
            errors.push(
                span,
                "`cache_none` applies only to functions returning `Option<T>` or `Result<Option<T>, E>`; remove it",
            );
        }
    }
    if let Some(span) = args.fail_safe {
        if args.stale.is_none() {
            errors.push(
                span,
                "`fail_safe` answers an error with the stale value, so it needs `stale = ..`; add `stale = \"5m\"` (how long an old value may still be served)",
            );
        }
        if !shape.is_result() {
            errors.push(
                span,
                "`fail_safe` replaces an `Err` with the stale value, so it needs a function returning `Result`; remove it",
            );
        }
    }
}

/// `#[invalidate]` deletes something. Not reported over earlier mistakes: a misspelled
/// argument already explains why nothing is left to delete.
pub(crate) fn invalidate_target(args: &InvalidateArgs, errors: &mut Errors) {
    let nothing = args.keys.is_empty()
        && args.patterns.is_empty()
        && args.tags.is_empty()
        && args.calls.is_empty();
    if nothing && errors.is_empty() {
        errors.push(
            proc_macro2::Span::call_site(),
            "`#[invalidate]` needs something to delete: `key = \"..\"`, `keys = [..]`, `pattern = \"..\"`, `patterns = [..]`, `tags = [..]`, or a call of a `#[cache]` function such as `get_user(id)`",
        );
    }
}
