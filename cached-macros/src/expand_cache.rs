//! `#[cache]`: plan the cache-aside call from the validated function and arguments, then
//! generate the function that makes it, and the companion that typed invalidation calls.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Type};

use crate::args::CacheArgs;
use crate::duration::Millis;
use crate::errors::Errors;
use crate::expand_common::{self, cache_binding, moved_body, templates};
use crate::key_fn;
use crate::key_spec::{KeySpec, Kind};
use crate::signature::{self, Params, Shape};
use crate::template::Template;
use crate::validate;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_common::expand(args, item, plan, generate)
}

/// Everything validated that the generated code needs.
struct Plan {
    key: KeySpec,
    tags: Vec<KeySpec>,
    options: CallOptions,
    shape: Shape,
    /// The type that is stored: `T` of `Result<T, E>` or `Option<T>`, else the return type.
    value_type: Type,
    cache: Option<Expr>,
}

/// The ttl and the resilience options of every call.
pub(crate) struct CallOptions {
    pub(crate) ttl: Millis,
    pub(crate) stale: Option<Millis>,
    pub(crate) jitter_percent: Option<u8>,
    pub(crate) fail_safe: bool,
    pub(crate) lock: bool,
    pub(crate) near: bool,
}

fn plan(function: &ItemFn, args: Option<CacheArgs>, errors: &mut Errors) -> Option<Plan> {
    let sig = &function.sig;
    validate::is_async(sig, "cache", errors);
    let return_type = validate::stored_return_type(sig, "cache", errors);
    let args = args?;
    let params = Params::of(sig);
    validate::params_named(&params, errors);
    validate::skip_list(&args.skip, &params, errors);
    // A bad key or return type stops nothing below: every other mistake is reported too.
    let key = key(&args, sig, &params, errors);
    let declared =
        signature::return_type(sig).map_or(Shape::Whole, |ty| signature::return_shape(ty).0);
    validate::cache_options(&args, declared, errors);
    let tags = templates(&args.tags, Kind::Tag, &params, errors);
    let (shape, value_type) = stored(return_type?, args.cache_none.is_some());
    Some(Plan {
        key: key?,
        tags,
        options: CallOptions {
            ttl: args.ttl?,
            stale: args.stale,
            jitter_percent: args.jitter_percent,
            fail_safe: args.fail_safe.is_some(),
            lock: args.lock.is_some(),
            near: args.no_near.is_none(),
        },
        shape,
        value_type: value_type.clone(),
        cache: args.cache,
    })
}

/// Which part of the return value is stored, and its type: `cache_none` stores an `Option`
/// whole (for `Result<Option<T>, E>`, the `Ok` value whole).
pub(crate) fn stored(return_type: &Type, cache_none: bool) -> (Shape, &Type) {
    match signature::return_shape(return_type) {
        (Shape::SomeOnly, _) if cache_none => (Shape::Whole, return_type),
        (Shape::OkSomeOnly, value) if cache_none => (
            Shape::OkOnly,
            signature::ok_type(return_type).unwrap_or(value),
        ),
        shape_and_value => shape_and_value,
    }
}

/// The key: the template's, checked to hold every parameter not skipped, or the default key;
/// then the function's generic parameters.
fn key(
    args: &CacheArgs,
    sig: &syn::Signature,
    params: &Params,
    errors: &mut Errors,
) -> Option<KeySpec> {
    let key = match &args.key {
        None => {
            validate::key_coverage(None, &args.skip, params, errors);
            KeySpec::default_key(sig, params, &args.skip)
        }
        Some(lit) => {
            let template = Template::parse(lit, Kind::Key, errors)?;
            if validate::placeholders(&template, params, errors) {
                validate::key_coverage(Some(&template), &args.skip, params, errors);
            }
            template.key_spec()
        }
    };
    Some(key.followed_by_generics(&sig.generics))
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
        options,
        shape,
        value_type,
        cache,
    } = plan;
    let shape = shape_type(shape);
    let body = moved_body(signature::return_type(&sig), &block);
    let cache = cache_binding(cache.as_ref());
    let built_key = key.render_built();
    let key = key.render();
    let tags = tags.iter().map(KeySpec::render).collect::<Vec<_>>();
    let unchecked = options.render_unchecked();
    let options = options.render();
    let companion = key_fn::companion(
        &sig,
        &vis,
        &value_type,
        quote! {
            #cache
            ::redcache::__private::EntryRef::new(
                __redcache_cache,
                #key,
                ::std::vec![#(#tags),*],
                #unchecked,
            )
        },
    );
    let name = syn::ext::IdentExt::unraw(&sig.ident).to_string();
    let codec = codec(&value_type);
    let function = expand_common::function(
        attrs,
        &vis,
        &sig,
        quote! {
            #cache
            // The function, for its own counters (`Cache::function_stats`); one per function,
            // shared by a generic function's instances.
            static __REDCACHE_SITE: ::redcache::__private::CallSite =
                ::redcache::__private::CallSite::new(::core::concat!(::core::module_path!(), "::", #name));
            let __redcache_key = #built_key;
            ::redcache::__private::get_or_compute::<#shape, _>(
                __redcache_cache,
                __redcache_key,
                ::std::vec![#(#tags),*],
                #options.function(&__REDCACHE_SITE),
                #codec,
                #body,
            )
            .await
        },
    );
    quote!(#companion #function)
}

/// The runtime's `Shape` type for a shape.
pub(crate) fn shape_type(shape: Shape) -> TokenStream {
    match shape {
        Shape::Whole => quote!(::redcache::__private::Whole),
        Shape::OkOnly => quote!(::redcache::__private::OkOnly),
        Shape::SomeOnly => quote!(::redcache::__private::SomeOnly),
        Shape::OkSomeOnly => quote!(::redcache::__private::OkSomeOnly),
    }
}

impl CallOptions {
    /// A `CallOptions` expression; a duration given as a path to a `const` is checked at
    /// compile time where it is written.
    pub(crate) fn render(&self) -> TokenStream {
        self.render_checked(true)
    }

    /// A `CallOptions` expression whose `const` durations are not checked again (the
    /// function's own expression checks them; a second check would report each mistake
    /// twice).
    pub(crate) fn render_unchecked(&self) -> TokenStream {
        self.render_checked(false)
    }

    fn render_checked(&self, checked: bool) -> TokenStream {
        let ttl = self.ttl.value("ttl", checked);
        let mut options = quote!(::redcache::__private::CallOptions::new(#ttl));
        if let Some(stale) = &self.stale {
            let stale = stale.value("stale", checked);
            options.extend(quote!(.stale(#stale)));
        }
        if let Some(percent) = self.jitter_percent {
            options.extend(quote!(.jitter(#percent)));
        }
        if self.fail_safe {
            options.extend(quote!(.fail_safe()));
        }
        if self.lock {
            options.extend(quote!(.lock()));
        }
        if !self.near {
            options.extend(quote!(.no_near()));
        }
        options
    }
}

/// The `ValueCodec` for the stored type.
pub(crate) fn codec(value_type: &Type) -> TokenStream {
    // The only place that requires `Serialize + DeserializeOwned`, spanned at the stored type
    // so that a type without them is reported on the user's return type.
    let json_codec =
        quote_spanned!(value_type.span()=> ::redcache::__private::json_codec::<#value_type>());
    // `Clone` types also get in-process copies for the memory store: autoref specialization,
    // where `ViaClone` applies only when the type is `Clone` and `NotClone` otherwise.
    quote! {{
        #[allow(unused_imports)]
        use ::redcache::__private::{NotClone as _, ViaClone as _};
        #[allow(clippy::needless_borrow)] // the borrow selects the impl
        let __redcache_copies = (&::redcache::__private::Probe::<#value_type>::new()).copies();
        #json_codec.with_copies(__redcache_copies)
    }}
}
