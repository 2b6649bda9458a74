//! What both macros share: the pipeline that runs their stages, and the pieces of planning and
//! generated code that are the same for both.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, Block, Expr, ItemFn, LitStr, Signature, Type, Visibility};

use crate::args::{self, MacroArgs};
use crate::errors::Errors;
use crate::key_spec::{KeySpec, Kind};
use crate::signature::{Params, contains_impl_trait};
use crate::template::Template;
use crate::validate;

/// Runs a macro: parses the function and the arguments, plans (validating, every mistake
/// collected), and generates the new function from the plan. On any mistake, emits every
/// error next to the user's function unchanged, so there are no follow-on errors and IDEs
/// keep working on the function.
///
/// `plan` is given `None` for arguments that did not parse, so that it still checks the
/// function; it may return `None` only after reporting why. `generate` runs only if nothing
/// was reported.
pub(crate) fn expand<A: MacroArgs, P>(
    args: TokenStream,
    item: TokenStream,
    plan: impl FnOnce(&ItemFn, Option<A>, &mut Errors) -> Option<P>,
    generate: impl FnOnce(ItemFn, P) -> TokenStream,
) -> TokenStream {
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(error) => return with_errors(&error, item),
    };
    let mut errors = Errors::new();
    let args = args::parse::<A>(args, &mut errors);
    let plan = plan(&function, args, &mut errors);
    match (errors.finish(), plan) {
        (Ok(()), Some(plan)) => generate(function, plan),
        (Err(error), _) => with_errors(&error, item),
        (Ok(()), None) => panic!("no plan, and no error saying why"),
    }
}

fn with_errors(error: &syn::Error, item: TokenStream) -> TokenStream {
    let errors = error.to_compile_error();
    quote!(#errors #item)
}

/// Parses a list of templates, checks that their placeholders name parameters, and describes
/// the keys they build; the templates with mistakes are reported and left out.
pub(crate) fn templates(
    lits: &[LitStr],
    kind: Kind,
    params: &Params,
    errors: &mut Errors,
) -> Vec<KeySpec> {
    lits.iter()
        .filter_map(|lit| {
            let template = Template::parse(lit, kind, errors)?;
            validate::placeholders(&template, params, errors).then(|| template.key_spec())
        })
        .collect()
}

/// The generated function: the user's attributes, visibility and signature, verbatim, around
/// `statements`.
///
/// Inner attributes written at the top of the body (`#![allow(..)]`) are lifted onto the
/// function: they apply to all of it, and the body is moved into an `async move` block, where
/// they would not be permitted (as tokio's `#[tokio::main]` does).
pub(crate) fn function(
    attrs: Vec<Attribute>,
    vis: &Visibility,
    sig: &Signature,
    statements: TokenStream,
) -> TokenStream {
    let attrs = attrs.into_iter().map(|mut attr| {
        attr.style = AttrStyle::Outer;
        attr
    });
    quote! {
        #(#attrs)*
        #vis #sig {
            #statements
        }
    }
}

/// Finds the cache to use in `__redcache_cache`: `cache = EXPR` (anything that coerces to
/// `&Cache`), or else the global one.
pub(crate) fn cache_binding(cache: Option<&Expr>) -> TokenStream {
    let cache = match cache {
        Some(expr) => quote!(#expr),
        None => quote!(::redcache::__private::global()),
    };
    quote!(let __redcache_cache: &::redcache::__private::Cache = #cache;)
}

/// The user's body as an `async move` block the runtime can run (or drop unrun, on a hit).
pub(crate) fn moved_body(return_type: Option<&Type>, block: &Block) -> TokenStream {
    moved_body_after(return_type, block, TokenStream::new())
}

/// The same, with `prelude` run first (`#[cache_batch]` binds the missed elements there).
pub(crate) fn moved_body_after(
    return_type: Option<&Type>,
    block: &Block,
    prelude: TokenStream,
) -> TokenStream {
    let fake_return = fake_return(return_type);
    let stmts = &block.stmts;
    quote! {
        async move {
            #prelude
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
