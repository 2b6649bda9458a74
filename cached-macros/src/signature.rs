//! Reading the annotated function: its parameters' names, and what its return type means for
//! caching.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{FnArg, GenericArgument, Pat, PathArguments, ReturnType, Signature, Type};

use crate::suggest::did_you_mean;

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

    /// The parameter name closest to `word`, if it is close enough to be a typo of it.
    pub(crate) fn closest(&self, word: &str) -> Option<String> {
        let names: Vec<String> = self.names().collect();
        did_you_mean(word, names.iter().map(String::as_str)).map(str::to_owned)
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
    /// `Result<Option<T>, E>`: `Ok(Some)` only (a "not found" is not cached for the TTL).
    OkSomeOnly,
}

impl Shape {
    /// Whether the function returns a `Result`, whose `Err` means "failed".
    pub(crate) fn is_result(self) -> bool {
        matches!(self, Shape::OkOnly | Shape::OkSomeOnly)
    }

    /// Whether a `None` can be returned, which `cache_none` would cache.
    pub(crate) fn has_none(self) -> bool {
        matches!(self, Shape::SomeOnly | Shape::OkSomeOnly)
    }
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
        Some(inner) if shape == Shape::OkOnly => match return_shape(inner) {
            (Shape::SomeOnly, value) => (Shape::OkSomeOnly, value),
            _ => (shape, inner),
        },
        Some(inner) => (shape, inner),
        None => (Shape::Whole, ty),
    }
}

/// The `T` of `Result<T, E>` (or of `Option<T>`).
pub(crate) fn ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    first_type_argument(&path.path.segments.last()?.arguments)
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

/// Whether `ty` mentions `impl Trait` anywhere, which no generated code can name.
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
