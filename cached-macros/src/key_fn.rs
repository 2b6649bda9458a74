//! Typed invalidation: `#[cache]` emits, next to the function, a hidden companion that builds
//! the key a call would read, and `#[invalidate(get_user(id))]` calls it. The key template is
//! written once, and a wrong name or wrong arguments are ordinary, well-spanned type errors.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Expr, FnArg, Ident, Pat, Signature, Visibility};

use crate::errors::Errors;
use crate::key_spec::KeySpec;

/// `get_user` → `__redcache_key_of_get_user`, spanned at the user's name so that errors point
/// at it.
fn companion_name(function: &Ident) -> Ident {
    format_ident!("__redcache_key_of_{}", function, span = function.span())
}

/// The companion of a cached function: same generics and parameters, plus the cache whose
/// prefix to use, returning the key.
///
/// A method gets one only when declared with a visibility (`pub`, `pub(crate)`, ..): the macro
/// cannot see whether the surrounding impl implements a trait, where an extra item would not
/// compile, and items of trait impls never carry a visibility.
pub(crate) fn companion(sig: &Signature, vis: &Visibility, key: &KeySpec) -> TokenStream {
    if sig.receiver().is_some() && matches!(vis, Visibility::Inherited) {
        return TokenStream::new();
    }
    let name = companion_name(&sig.ident);
    let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
    let inputs = sig.inputs.iter().map(without_mut);
    let key = key.render();
    quote! {
        #[doc(hidden)]
        #[allow(unused_variables, clippy::too_many_arguments, clippy::needless_pass_by_value)]
        #vis fn #name #generics (
            #(#inputs,)*
            __redcache_cache: &::redcache::__private::Cache,
        ) -> ::std::string::String #where_clause {
            #key
        }
    }
}

/// The parameter without `mut`, which the companion never needs.
fn without_mut(input: &FnArg) -> FnArg {
    let mut input = input.clone();
    match &mut input {
        FnArg::Receiver(receiver) => receiver.mutability = None,
        FnArg::Typed(typed) => {
            if let Pat::Ident(ident) = &mut *typed.pat {
                ident.mutability = None;
            }
        }
    }
    input
}

/// `get_user(id)` → a call of its companion that yields the key, with the same arguments.
pub(crate) fn key_of_call(call: &Expr, errors: &mut Errors) -> Option<TokenStream> {
    match call {
        Expr::Call(call) => {
            let Expr::Path(function) = &*call.func else {
                errors.push_spanned(
                    call,
                    "expected a call of a `#[cache]` function by name, such as `get_user(id)`",
                );
                return None;
            };
            let mut path = function.clone();
            let last = path.path.segments.last_mut()?;
            last.ident = companion_name(&last.ident);
            let args = call.args.iter();
            Some(quote!(#path(#(#args,)* __redcache_cache)))
        }
        Expr::MethodCall(call) => {
            let receiver = &call.receiver;
            let method = companion_name(&call.method);
            let turbofish = &call.turbofish;
            let args = call.args.iter();
            Some(quote!(#receiver.#method #turbofish (#(#args,)* __redcache_cache)))
        }
        other => {
            errors.push_spanned(
                other,
                "expected a call of a `#[cache]` function, such as `get_user(id)`",
            );
            None
        }
    }
}
