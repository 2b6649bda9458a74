//! Typed invalidation and write-through: `#[cache]` emits, next to the function, a hidden
//! companion that describes the entry a call would read (its cache, key, tags and options:
//! the runtime's `EntryRef`), and `#[invalidate(get_user(id))]` and
//! `#[cache_put(get_user(id))]` call it. The key template and the `cache = ..` expression are
//! written once, and a wrong name, wrong arguments or a wrong value type are ordinary,
//! well-spanned type errors.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Expr, FnArg, Ident, Pat, Signature, Type, Visibility};

use crate::errors::Errors;

/// `get_user` → `__redcache_entry_of_get_user`, spanned at the user's name so that errors point
/// at it.
fn companion_name(function: &Ident) -> Ident {
    format_ident!("__redcache_entry_of_{}", function, span = function.span())
}

/// The companion of a cached function: same generics and parameters, returning the entry a
/// call with those arguments reads. `statements` bind `__redcache_cache` and build the
/// `EntryRef` from it (the function's own cache: its `cache = ..` is evaluated with the
/// companion's arguments, which are the call's).
///
/// A method gets one only when declared with a visibility (`pub`, `pub(crate)`, ..): the macro
/// cannot see whether the surrounding impl implements a trait, where an extra item would not
/// compile, and items of trait impls never carry a visibility.
pub(crate) fn companion(
    sig: &Signature,
    vis: &Visibility,
    value_type: &Type,
    statements: TokenStream,
) -> TokenStream {
    if sig.receiver().is_some() && matches!(vis, Visibility::Inherited) {
        return TokenStream::new();
    }
    let name = companion_name(&sig.ident);
    let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
    let inputs = sig.inputs.iter().map(without_mut);
    quote! {
        #[doc(hidden)]
        #[allow(unused_variables, clippy::too_many_arguments, clippy::needless_pass_by_value)]
        #vis fn #name #generics (
            #(#inputs,)*
        ) -> ::redcache::__private::EntryRef<#value_type> #where_clause {
            #statements
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

/// `get_user(id)` → a call of its companion with the same arguments, which yields the
/// `EntryRef` of the entry that call reads.
pub(crate) fn entry_of_call(call: &Expr, errors: &mut Errors) -> Option<TokenStream> {
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
            Some(quote!(#path(#(#args),*)))
        }
        Expr::MethodCall(call) => {
            let receiver = &call.receiver;
            let method = companion_name(&call.method);
            let turbofish = &call.turbofish;
            let args = call.args.iter();
            Some(quote!(#receiver.#method #turbofish (#(#args),*)))
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
