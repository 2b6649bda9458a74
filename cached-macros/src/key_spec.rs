//! What a key is made of, and the code that builds it: one description for a key template, the
//! default key, patterns and tags, rendered the same way into a cached function, its
//! typed-invalidation companion and an invalidating function.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{GenericParam, Generics, Ident, Signature};

use crate::signature::Params;

/// What a key names: one entry, a glob over entries, or a tag.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Key,
    Pattern,
    Tag,
}

/// A key as a sequence of literal text and argument values, for one [`Kind`].
pub(crate) struct KeySpec {
    kind: Kind,
    /// Bytes to reserve for the key: a hint, not a limit.
    capacity: usize,
    pieces: Vec<Piece>,
}

pub(crate) enum Piece {
    /// Text written as is: an expression of type `&'static str`.
    Text(TokenStream),
    /// A value written with the runtime's encoding: an argument, a field of one, a const
    /// parameter, or a type parameter's name.
    Value {
        /// The place read, such as `user_id`, `self.tenant` or `N`; or an expression of type
        /// `&'static str`, such as `::core::any::type_name::<T>()`.
        place: TokenStream,
        /// Write a stable hash of the value instead of the value.
        hash: bool,
        /// Where rustc reports a value that is not a key part.
        span: Span,
    },
}

impl KeySpec {
    pub(crate) fn new(kind: Kind, capacity: usize, pieces: Vec<Piece>) -> KeySpec {
        KeySpec {
            kind,
            capacity,
            pieces,
        }
    }

    /// The key when no `key = ..` is given: the function's module path and name, then every
    /// argument not in `skip`, `:`-separated. A method's path is its `Self` type's, so that
    /// methods of different types with one name keep apart. `self` is never part of it
    /// (validation rejects a receiver that is not skipped).
    pub(crate) fn default_key(sig: &Signature, params: &Params, skip: &[Ident]) -> KeySpec {
        let name = sig.ident.to_string();
        let mut pieces = if sig.receiver().is_some() {
            vec![
                Piece::Text(quote!(::core::any::type_name::<Self>())),
                Piece::Text(quote!(::core::concat!("::", #name))),
            ]
        } else {
            vec![Piece::Text(quote!(
                ::core::concat!(::core::module_path!(), "::", #name)
            ))]
        };
        for param in &params.named {
            if skip.contains(&param.ident) || param.is_receiver() {
                continue;
            }
            let ident = &param.ident;
            pieces.push(Piece::Text(quote!(":")));
            pieces.push(Piece::Value {
                place: quote!(#ident),
                hash: false,
                span: ident.span(),
            });
        }
        KeySpec::new(Kind::Key, 64, pieces)
    }

    /// This key, then the function's own generic parameters in declaration order, each after
    /// a `:`: a type parameter's name (`core::any::type_name`), a const parameter's value.
    /// Lifetimes are left out: they never change what a call returns. So `fetch::<Summary>(1)`
    /// and `fetch::<Detail>(1)` never share an entry, and the typed-invalidation companion,
    /// which has the same generics, builds the same key.
    ///
    /// Names and values are written as values are, escaped: `a::B` is `a%3A%3AB`, so the key
    /// stays injective and a type name can act neither as a glob nor as a hash tag.
    pub(crate) fn followed_by_generics(mut self, generics: &Generics) -> KeySpec {
        for param in &generics.params {
            let (place, ident) = match param {
                GenericParam::Type(param) => {
                    let ident = &param.ident;
                    (quote!(::core::any::type_name::<#ident>()), ident)
                }
                GenericParam::Const(param) => {
                    let ident = &param.ident;
                    (quote!(#ident), ident)
                }
                GenericParam::Lifetime(_) => continue,
            };
            self.capacity += 32;
            self.pieces.push(Piece::Text(quote!(":")));
            self.pieces.push(Piece::Value {
                place,
                hash: false,
                span: ident.span(),
            });
        }
        self
    }

    /// Code that evaluates to the finished key (a `String`), given `__redcache_cache`, the
    /// `&Cache` whose prefix it starts with.
    pub(crate) fn render(&self) -> TokenStream {
        self.render_from(self.prefixed_writer(), quote!(finish_key))
    }

    /// The same, evaluating to the runtime's `KeyWriter` (a cached call's key: not
    /// allocated on the heap while short).
    pub(crate) fn render_built(&self) -> TokenStream {
        self.render_from(self.prefixed_writer(), quote!(built_key))
    }

    /// Code that evaluates to the key without any cache's prefix (`key!`, `pattern!`).
    pub(crate) fn render_unprefixed(&self) -> TokenStream {
        let capacity = self.capacity;
        self.render_from(
            quote!(::redcache::__private::bare_writer(#capacity)),
            quote!(finish_key),
        )
    }

    fn prefixed_writer(&self) -> TokenStream {
        let writer = match self.kind {
            Kind::Key => quote!(key_writer),
            Kind::Pattern => quote!(pattern_writer),
            Kind::Tag => quote!(tag_writer),
        };
        let capacity = self.capacity;
        quote!(::redcache::__private::#writer(__redcache_cache, #capacity))
    }

    fn render_from(&self, writer: TokenStream, finish: TokenStream) -> TokenStream {
        let steps = self.pieces.iter().map(Piece::render);
        quote! {{
            let mut __redcache_key = #writer;
            #(#steps)*
            ::redcache::__private::#finish(__redcache_key)
        }}
    }
}

impl Piece {
    /// One step of key building. A value's step is spanned at `span`, so that a value whose
    /// type is not a key part (the bound of `key_part`) is reported there.
    fn render(&self) -> TokenStream {
        match self {
            Piece::Text(text) => {
                quote! { ::redcache::__private::push_literal(&mut __redcache_key, #text); }
            }
            Piece::Value { place, hash, span } => {
                let push = if *hash {
                    quote_spanned!(*span=> push_hashed)
                } else {
                    quote_spanned!(*span=> push_part)
                };
                quote_spanned! {*span=>
                    ::redcache::__private::#push(
                        &mut __redcache_key,
                        ::redcache::__private::key_part(&#place),
                    );
                }
            }
        }
    }
}
