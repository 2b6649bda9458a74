//! `#[invalidate]`: plan what to delete from the validated function and arguments, then
//! generate the function that runs the body and deletes it if the body succeeded.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ItemFn};

use crate::args::InvalidateArgs;
use crate::errors::Errors;
use crate::expand_common::{self, cache_binding, moved_body, templates};
use crate::key_fn;
use crate::key_spec::{KeySpec, Kind};
use crate::signature::{self, Params};
use crate::validate;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_common::expand(args, item, plan, generate)
}

/// Everything validated that the generated code needs.
struct Plan {
    keys: Vec<KeySpec>,
    /// Calls of `#[cache]` functions' companions, each yielding the entry that call reads
    /// (deleted from that function's own cache).
    calls: Vec<TokenStream>,
    patterns: Vec<KeySpec>,
    tags: Vec<KeySpec>,
    /// Delete only after `Ok`: the function returns a `Result`.
    on_ok_only: bool,
    cache: Option<Expr>,
}

fn plan(function: &ItemFn, args: Option<InvalidateArgs>, errors: &mut Errors) -> Option<Plan> {
    let sig = &function.sig;
    validate::is_async(sig, "invalidate", errors);
    let args = args?;
    validate::invalidate_target(&args, errors);
    let params = Params::of(sig);
    let keys = templates(&args.keys, Kind::Key, &params, errors);
    let calls = args
        .calls
        .iter()
        .filter_map(|call| key_fn::entry_of_call(call, errors))
        .collect();
    let patterns = templates(&args.patterns, Kind::Pattern, &params, errors);
    let tags = templates(&args.tags, Kind::Tag, &params, errors);
    let on_ok_only =
        signature::return_type(sig).is_some_and(|ty| signature::return_shape(ty).0.is_result());
    Some(Plan {
        keys,
        calls,
        patterns,
        tags,
        on_ok_only,
        cache: args.cache,
    })
}

fn generate(function: ItemFn, plan: Plan) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let Plan {
        keys,
        calls,
        patterns,
        tags,
        on_ok_only,
        cache,
    } = plan;
    let succeeded = if on_ok_only {
        quote!(::redcache::__private::is_ok)
    } else {
        quote!(::redcache::__private::always)
    };
    // The function's own cache is looked up only if it has targets of its own: typed
    // invalidation alone must not install the global cache as a side effect.
    let (cache, own) = if keys.is_empty() && patterns.is_empty() && tags.is_empty() {
        (TokenStream::new(), quote!(::std::option::Option::None))
    } else {
        let keys = keys.iter().map(KeySpec::render);
        let patterns = patterns.iter().map(KeySpec::render);
        let tags = tags.iter().map(KeySpec::render);
        let own = quote! {
            ::std::option::Option::Some((
                __redcache_cache,
                ::redcache::__private::Targets {
                    keys: ::std::vec![#(#keys),*],
                    patterns: ::std::vec![#(#patterns),*],
                    tags: ::std::vec![#(#tags),*],
                },
            ))
        };
        (cache_binding(cache.as_ref()), own)
    };
    let body = moved_body(signature::return_type(&sig), &block);
    expand_common::function(
        attrs,
        &vis,
        &sig,
        quote! {
            #cache
            ::redcache::__private::invalidate_after(
                #own,
                ::std::vec![#(::redcache::__private::EntryRef::erased(#calls)),*],
                #succeeded,
                #body,
            )
            .await
        },
    )
}
