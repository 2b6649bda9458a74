//! `#[cache]`: parse, validate, then wrap the body in the runtime's cache-aside flow.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, Type};

use crate::args::{CacheArgs, RawArgs};
use crate::errors::Errors;
use crate::expand_common::{cache_handle, moved_body, parse_function, with_errors};
use crate::key_fn;
use crate::key_spec::{KeySpec, Kind};
use crate::signature::{self, Params, Shape};
use crate::suggest::did_you_mean;
use crate::template::{self, Template};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match parse_function(&item) {
        Ok(function) => function,
        Err(errors) => return errors,
    };
    let mut errors = Errors::default();
    match plan(args, &function, &mut errors) {
        Some(plan) if errors.is_empty() => generate(function, plan),
        _ => with_errors(errors, item),
    }
}

/// Everything validated that the generated code needs.
struct Plan {
    key: KeySpec,
    tags: Vec<KeySpec>,
    /// A `CallOptions` expression: ttl and the resilience options.
    policy: TokenStream,
    shape: Shape,
    /// The type that is stored: `T` of `Result<T, E>` or `Option<T>`, else the return type.
    value_type: Type,
    cache: TokenStream,
}

fn plan(args: TokenStream, function: &ItemFn, errors: &mut Errors) -> Option<Plan> {
    let sig = &function.sig;
    signature::check_async(sig, "cache", errors);
    let return_type = signature::cached_return_type(sig, errors);
    let args = match syn::parse2::<RawArgs>(args) {
        Ok(raw) => CacheArgs::from_raw(raw, errors),
        Err(error) => {
            errors.add(error);
            return None;
        }
    };
    let params = Params::of(sig);
    for pattern in &params.unnamed {
        errors.push_spanned(
            pattern,
            "`#[cache]` needs a name for every argument, to put it in the key or in `skip(..)`; bind this pattern to a name and destructure it in the body",
        );
    }
    check_skips(&args.skip, &params, errors);
    let key = match &args.key {
        Some(lit) => {
            let template = Template::parse(lit, Kind::Key, errors)?;
            if template.check_names(&params, errors) {
                check_coverage(&template, lit.span(), &args.skip, &params, errors);
            }
            template.key_spec()
        }
        None => {
            check_default_key(&args.skip, &params, errors);
            KeySpec::default_key(sig, &params, &args.skip)
        }
    };
    let return_type = return_type?;
    let (shape, value_type) = signature::return_shape(return_type);
    let (shape, value_type) = match (shape, args.cache_none) {
        (Shape::SomeOnly, Some(_)) => (Shape::Whole, return_type),
        (_, Some(span)) => {
            errors.push(
                span,
                "`cache_none` applies only to functions returning `Option<T>`; remove it",
            );
            (shape, value_type)
        }
        (shape, None) => (shape, value_type),
    };
    let policy = policy(&args, shape, errors);
    let tags = template::key_specs(&args.tags, Kind::Tag, &params, errors);
    Some(Plan {
        key,
        tags,
        policy: policy?,
        shape,
        value_type: value_type.clone(),
        cache: cache_handle(args.cache.as_ref()),
    })
}

/// The `CallOptions` expression, after checking that the options fit together.
fn policy(args: &CacheArgs, shape: Shape, errors: &mut Errors) -> Option<TokenStream> {
    if let Some(span) = args.fail_safe {
        if args.stale_millis.is_none() {
            errors.push(
                span,
                "`fail_safe` answers an error with the stale value, so it needs `stale = ..`; add `stale = \"5m\"` (how long an old value may still be served)",
            );
        }
        if shape != Shape::OkOnly {
            errors.push(
                span,
                "`fail_safe` replaces an `Err` with the stale value, so it needs a function returning `Result`; remove it",
            );
        }
    }
    let ttl = args.ttl_millis?;
    let mut policy = quote!(::redcache::__private::CallOptions::new(#ttl));
    if let Some(stale) = args.stale_millis {
        policy.extend(quote!(.stale(#stale)));
    }
    if let Some(percent) = args.jitter_percent {
        policy.extend(quote!(.jitter(#percent)));
    }
    if args.fail_safe.is_some() {
        policy.extend(quote!(.fail_safe()));
    }
    if args.lock.is_some() {
        policy.extend(quote!(.lock()));
    }
    Some(policy)
}

fn check_skips(skip: &[Ident], params: &Params, errors: &mut Errors) {
    for (i, name) in skip.iter().enumerate() {
        if skip[..i].contains(name) {
            errors.push(
                name.span(),
                format!("`{name}` is listed twice in `skip(..)`"),
            );
        } else if params.find(&name.to_string()).is_none() {
            let names: Vec<String> = params.names().collect();
            let hint = match did_you_mean(&name.to_string(), names.iter().map(String::as_str)) {
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

/// Every parameter must be in the key or skipped, and not both.
fn check_coverage(
    template: &Template,
    span: Span,
    skip: &[Ident],
    params: &Params,
    errors: &mut Errors,
) {
    let roots: Vec<&str> = template.roots().collect();
    for param in &params.named {
        let name = param.ident.to_string();
        let in_key = roots.contains(&name.as_str());
        let skipped = skip.iter().any(|s| *s == name);
        match (in_key, skipped) {
            (true, true) => {
                let skipped = skip.iter().find(|s| **s == name).map_or(span, Ident::span);
                errors.push(
                    skipped,
                    format!("`{name}` is both in the key and in `skip(..)`; remove it from `skip(..)`"),
                );
            }
            (false, false) if param.is_receiver() => errors.push_spanned(
                &param.tokens,
                "`self` is not part of the key; read a field through it, as in `<self.id>`, or add `skip(self)`",
            ),
            (false, false) => errors.push_spanned(
                &param.tokens,
                format!(
                    "parameter `{name}` is not part of the key, so calls that differ only in `{name}` would share one cached value; add `<{name}>` to the key or `skip({name})`"
                ),
            ),
            _ => {}
        }
    }
}

/// The default key holds every parameter not skipped, and `self` cannot be part of it.
fn check_default_key(skip: &[Ident], params: &Params, errors: &mut Errors) {
    for param in &params.named {
        if param.is_receiver() && !skip.contains(&param.ident) {
            errors.push_spanned(
                &param.tokens,
                "`self` cannot be part of a default key; add `skip(self)`, or write a `key = ..` that reads fields through it, as in `<self.id>`",
            );
        }
    }
}

fn generate(function: ItemFn, plan: Plan) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let Plan {
        key,
        tags,
        policy,
        shape,
        value_type,
        cache,
    } = plan;
    let shape = match shape {
        Shape::Whole => quote!(Whole),
        Shape::OkOnly => quote!(OkOnly),
        Shape::SomeOnly => quote!(SomeOnly),
    };
    let body = moved_body(signature::return_type(&sig), &block);
    // The only place that requires `Serialize + DeserializeOwned`, spanned at the stored type
    // so that a type without them is reported on the user's return type.
    let json_codec =
        quote_spanned!(value_type.span()=> ::redcache::__private::json_codec::<#value_type>());
    // `Clone` types also get in-process copies for the memory store: autoref specialization,
    // where `ViaClone` applies only when the type is `Clone` and `NotClone` otherwise.
    let codec = quote! {{
        #[allow(unused_imports)]
        use ::redcache::__private::{NotClone as _, ViaClone as _};
        #[allow(clippy::needless_borrow)] // the borrow selects the impl
        let __redcache_copies = (&::redcache::__private::Probe::<#value_type>::new()).copies();
        #json_codec.with_copies(__redcache_copies)
    }};
    let companion = key_fn::companion(&sig, &vis, &key);
    let key = key.render();
    let tags = tags.iter().map(KeySpec::render);
    quote! {
        #companion
        #(#attrs)*
        #vis #sig {
            let __redcache_cache: &::redcache::__private::Cache = #cache;
            let __redcache_key: ::std::string::String = #key;
            ::redcache::__private::get_or_compute::<::redcache::__private::#shape, _>(
                __redcache_cache,
                __redcache_key,
                ::std::vec![#(#tags),*],
                #policy,
                #codec,
                #body,
            )
            .await
        }
    }
}
