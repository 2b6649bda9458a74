//! `#[cache]`: plan the cache-aside call from the validated function and arguments, then
//! generate the function that makes it, and the companion that typed invalidation calls.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Type};

use crate::args::CacheArgs;
use crate::errors::Errors;
use crate::expand_common::{self, moved_body, templates};
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
struct CallOptions {
    ttl_millis: u64,
    stale_millis: Option<u64>,
    jitter_percent: Option<u8>,
    fail_safe: bool,
    lock: bool,
}

fn plan(function: &ItemFn, args: Option<CacheArgs>, errors: &mut Errors) -> Option<Plan> {
    let sig = &function.sig;
    validate::is_async(sig, "cache", errors);
    let return_type = validate::stored_return_type(sig, errors);
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
            ttl_millis: args.ttl_millis?,
            stale_millis: args.stale_millis,
            jitter_percent: args.jitter_percent,
            fail_safe: args.fail_safe.is_some(),
            lock: args.lock.is_some(),
        },
        shape,
        value_type: value_type.clone(),
        cache: args.cache,
    })
}

/// Which part of the return value is stored, and its type: `cache_none` stores an `Option`
/// whole (for `Result<Option<T>, E>`, the `Ok` value whole).
fn stored(return_type: &Type, cache_none: bool) -> (Shape, &Type) {
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
    let shape = match shape {
        Shape::Whole => quote!(Whole),
        Shape::OkOnly => quote!(OkOnly),
        Shape::SomeOnly => quote!(SomeOnly),
        Shape::OkSomeOnly => quote!(OkSomeOnly),
    };
    let body = moved_body(signature::return_type(&sig), &block);
    let companion = key_fn::companion(&sig, &vis, &key);
    let key = key.render();
    let tags = tags.iter().map(KeySpec::render);
    let options = options.render();
    let codec = codec(&value_type);
    let function = expand_common::function(
        attrs,
        &vis,
        &sig,
        cache.as_ref(),
        quote! {
            let __redcache_key: ::std::string::String = #key;
            ::redcache::__private::get_or_compute::<::redcache::__private::#shape, _>(
                __redcache_cache,
                __redcache_key,
                ::std::vec![#(#tags),*],
                #options,
                #codec,
                #body,
            )
            .await
        },
    );
    quote!(#companion #function)
}

impl CallOptions {
    /// A `CallOptions` expression.
    fn render(&self) -> TokenStream {
        let ttl = self.ttl_millis;
        let mut options = quote!(::redcache::__private::CallOptions::new(#ttl));
        if let Some(stale) = self.stale_millis {
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
        options
    }
}

/// The `ValueCodec` for the stored type.
fn codec(value_type: &Type) -> TokenStream {
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
