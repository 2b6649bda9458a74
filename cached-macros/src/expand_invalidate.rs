//! `#[invalidate]`: run the body, then delete keys and patterns if it succeeded.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::args::{InvalidateArgs, RawArgs};
use crate::errors::Errors;
use crate::expand_common::{cache_handle, moved_body, parse_function, with_errors};
use crate::key_fn;
use crate::key_spec::{KeySpec, Kind};
use crate::signature::{self, Params, Shape};
use crate::template;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match parse_function(&item) {
        Ok(function) => function,
        Err(errors) => return errors,
    };
    let mut errors = Errors::default();
    signature::check_async(&function.sig, "invalidate", &mut errors);
    let args = match syn::parse2::<RawArgs>(args) {
        Ok(raw) => InvalidateArgs::from_raw(raw, &mut errors),
        Err(error) => {
            errors.add(error);
            return with_errors(errors, item);
        }
    };
    if args.keys.is_empty()
        && args.patterns.is_empty()
        && args.tags.is_empty()
        && args.calls.is_empty()
        && errors.is_empty()
    {
        errors.push(
            proc_macro2::Span::call_site(),
            "`#[invalidate]` needs something to delete: `key = \"..\"`, `keys = [..]`, `pattern = \"..\"`, `patterns = [..]`, `tags = [..]`, or a call of a `#[cache]` function such as `get_user(id)`",
        );
    }
    let params = Params::of(&function.sig);
    let keys = template::key_specs(&args.keys, Kind::Key, &params, &mut errors);
    let calls: Vec<TokenStream> = args
        .calls
        .iter()
        .filter_map(|call| key_fn::key_of_call(call, &mut errors))
        .collect();
    let patterns = template::key_specs(&args.patterns, Kind::Pattern, &params, &mut errors);
    let tags = template::key_specs(&args.tags, Kind::Tag, &params, &mut errors);
    if !errors.is_empty() {
        return with_errors(errors, item);
    }

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let return_type = signature::return_type(&sig);
    let succeeded = match return_type.map(signature::return_shape) {
        Some((Shape::OkOnly, _)) => quote!(::redcache::__private::is_ok),
        _ => quote!(::redcache::__private::always),
    };
    let body = moved_body(return_type, &block);
    let cache = cache_handle(args.cache.as_ref());
    let keys = keys.iter().map(KeySpec::render).chain(calls);
    let patterns = patterns.iter().map(KeySpec::render);
    let tags = tags.iter().map(KeySpec::render);
    quote! {
        #(#attrs)*
        #vis #sig {
            let __redcache_cache: &::redcache::__private::Cache = #cache;
            ::redcache::__private::invalidate_after(
                __redcache_cache,
                ::redcache::__private::Targets {
                    keys: ::std::vec![#(#keys),*],
                    patterns: ::std::vec![#(#patterns),*],
                    tags: ::std::vec![#(#tags),*],
                },
                #succeeded,
                #body,
            )
            .await
        }
    }
}
