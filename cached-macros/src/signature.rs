//! What the macros need to know about the annotated function: that it is async, its
//! parameters' names, and what its return type means for caching.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{FnArg, GenericArgument, Pat, PathArguments, ReturnType, Signature, Type};

use crate::errors::Errors;

/// A parameter a template can name.
pub(crate) struct Param {
    /// The name as the user wrote it (`self` for the receiver), spanned at their code.
    pub(crate) ident: syn::Ident,
    /// The whole parameter as written (`&self`, `page: u32`), to span errors about it.
    pub(crate) tokens: TokenStream,
}

impl Param {
    pub(crate) fn is_receiver(&self) -> bool {
        self.ident == "self"
    }
}

pub(crate) struct Params {
    pub(crate) named: Vec<Param>,
    /// Parameters written as patterns (`(a, b): (u8, u8)`, `_: Db`), which no template can name.
    pub(crate) unnamed: Vec<TokenStream>,
}

impl Params {
    pub(crate) fn of(sig: &Signature) -> Params {
        let mut named = Vec::new();
        let mut unnamed = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(receiver) => named.push(Param {
                    ident: syn::Ident::new("self", receiver.self_token.span),
                    tokens: receiver.to_token_stream(),
                }),
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat) if pat.subpat.is_none() => named.push(Param {
                        ident: pat.ident.clone(),
                        tokens: typed.to_token_stream(),
                    }),
                    other => unnamed.push(other.to_token_stream()),
                },
            }
        }
        Params { named, unnamed }
    }

    pub(crate) fn find(&self, name: &str) -> Option<&Param> {
        self.named.iter().find(|param| param.ident == name)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.named.iter().map(|param| param.ident.to_string())
    }
}

/// Which part of the output is cached, read off the return type's last path segment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Cached as is.
    Whole,
    /// `Result<T, E>` (including aliases such as `io::Result<T>`): `Ok` only.
    OkOnly,
    /// `Option<T>`: `Some` only.
    SomeOnly,
}

/// The return type's shape and the type that is stored.
pub(crate) fn return_shape(ty: &Type) -> (Shape, &Type) {
    let Type::Path(path) = ty else {
        return (Shape::Whole, ty);
    };
    let Some(last) = path.path.segments.last() else {
        return (Shape::Whole, ty);
    };
    let shape = if last.ident == "Result" {
        Shape::OkOnly
    } else if last.ident == "Option" {
        Shape::SomeOnly
    } else {
        return (Shape::Whole, ty);
    };
    match first_type_argument(&last.arguments) {
        Some(inner) => (shape, inner),
        None => (Shape::Whole, ty),
    }
}

fn first_type_argument(arguments: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(args) = arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// The declared return type; `None` for `()` written as nothing.
pub(crate) fn return_type(sig: &Signature) -> Option<&Type> {
    match &sig.output {
        ReturnType::Type(_, ty) => Some(ty),
        ReturnType::Default => None,
    }
}

/// Checks what both macros require of the function: `async`, and no C-variadics.
pub(crate) fn check_async(sig: &Signature, attribute: &str, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            format!(
                "`#[{attribute}]` works on `async fn` only; declare it as `async fn {}`",
                sig.ident
            ),
        );
    }
}

/// The return type a cached function stores, or an error if it has nothing storable.
pub(crate) fn cached_return_type<'a>(sig: &'a Signature, errors: &mut Errors) -> Option<&'a Type> {
    match &sig.output {
        ReturnType::Default => {
            errors.push(
                sig.ident.span(),
                format!(
                    "`#[cache]` needs a return value to cache, and `{}` returns `()`; use `#[invalidate]` for functions that change data",
                    sig.ident
                ),
            );
            None
        }
        ReturnType::Type(_, ty) => {
            if contains_impl_trait(ty) {
                errors.push_spanned(
                    ty,
                    "`#[cache]` cannot store an `impl Trait` return type; return a concrete type that implements `Serialize` and `Deserialize`",
                );
                return None;
            }
            Some(ty)
        }
    }
}

pub(crate) fn contains_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_type(&mut finder, ty);
    finder.0
}
