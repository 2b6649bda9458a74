//! Pieces both macros generate.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Expr, Type};

use crate::errors::Errors;
use crate::signature::contains_impl_trait;

/// The annotated item as a function, or the errors to emit (with the item unchanged).
pub(crate) fn parse_function(item: &TokenStream) -> Result<syn::ItemFn, TokenStream> {
    syn::parse2(item.clone()).map_err(|error| {
        let mut errors = Errors::default();
        errors.add(error);
        with_errors(errors, item.clone())
    })
}

/// The user's function unchanged, next to the errors: no follow-on errors, and IDEs keep
/// working on the function.
pub(crate) fn with_errors(errors: Errors, item: TokenStream) -> TokenStream {
    let errors = errors.into_compile_errors();
    quote!(#errors #item)
}

/// The cache to use: `cache = EXPR` (anything that coerces to `&Cache`) or the global one.
pub(crate) fn cache_handle(cache: Option<&Expr>) -> TokenStream {
    match cache {
        Some(expr) => quote!(#expr),
        None => quote!(::redcache::__private::global()),
    }
}

/// The user's body as an `async move` block the runtime can run (or drop unrun, on a hit).
pub(crate) fn moved_body(return_type: Option<&Type>, block: &Block) -> TokenStream {
    let fake_return = fake_return(return_type);
    let stmts = &block.stmts;
    quote! {
        async move {
            #fake_return
            #(#stmts)*
        }
    }
}

/// Tells the compiler the body's type up front, so that `?` and `return` inside the moved
/// body infer the function's return type, and a wrong value is reported at the user's code.
fn fake_return(return_type: Option<&Type>) -> TokenStream {
    let ty = match return_type {
        Some(ty) if contains_impl_trait(ty) => return TokenStream::new(),
        Some(ty) => quote!(#ty),
        None => quote!(()),
    };
    let span = return_type.map_or_else(proc_macro2::Span::call_site, |ty| ty.span());
    quote_spanned! {span=>
        #[allow(
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let __redcache_fake_return: #ty = loop {};
            return __redcache_fake_return;
        }
    }
}
