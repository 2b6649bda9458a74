//! `#[cache_put(get_user(id))]`: plan the write-through from the validated function and its
//! one argument, the call whose entry the returned value becomes, then generate the function
//! that runs the body and writes the value (through the named function's companion: see
//! `key_fn`).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, Type};

use crate::args::PutArgs;
use crate::errors::Errors;
use crate::expand_cache::{codec, shape_type, stored};
use crate::expand_common::{self, moved_body};
use crate::key_fn;
use crate::signature::{self, Shape};
use crate::validate;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_common::expand(args, item, plan, generate)
}

/// Everything validated that the generated code needs.
struct Plan {
    /// The companion call that yields the entry to write.
    entry: TokenStream,
    shape: Shape,
    /// The type that is stored, which must be the one the named function stores.
    value_type: Type,
}

fn plan(function: &ItemFn, args: Option<PutArgs>, errors: &mut Errors) -> Option<Plan> {
    let sig = &function.sig;
    validate::is_async(sig, "cache_put", errors);
    let return_type = validate::stored_return_type(sig, "cache_put", errors);
    let call = args?.call?;
    let entry = key_fn::entry_of_call(&call, errors)?;
    let (shape, value_type) = stored(return_type?, false);
    // Spanned at the call, where a value type other than the one the named function stores
    // is reported (see the runtime's `Stores`).
    let entry =
        quote_spanned!(call.span()=> ::redcache::__private::entry_for::<#value_type>(#entry));
    Some(Plan {
        entry,
        shape,
        value_type: value_type.clone(),
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
        entry,
        shape,
        value_type,
    } = plan;
    let shape = shape_type(shape);
    let codec = codec(&value_type);
    let body = moved_body(signature::return_type(&sig), &block);
    expand_common::function(
        attrs,
        &vis,
        &sig,
        quote! {
            // Built before the body runs, which may consume the arguments.
            let __redcache_entry = #entry;
            ::redcache::__private::put_after::<#shape, _>(__redcache_entry, #codec, #body).await
        },
    )
}
