//! `key!("user:<user_id>")` and `pattern!("user:<user_id>:*")`: a key or a glob built from the
//! variables in scope, with the template rules and the encoding of `#[cache]` (parsed by
//! `template.rs`, described by `key_spec.rs`), without the cache's prefix, which the
//! programmatic API adds.

use proc_macro2::TokenStream;
use syn::LitStr;

use crate::errors::Errors;
use crate::key_spec::Kind;
use crate::template::Template;

pub(crate) fn expand(input: TokenStream, kind: Kind) -> TokenStream {
    let (name, example) = match kind {
        Kind::Pattern => ("pattern", "pattern!(\"user:<user_id>:*\")"),
        _ => ("key", "key!(\"user:<user_id>\")"),
    };
    let lit = match syn::parse2::<LitStr>(input) {
        Ok(lit) => lit,
        Err(error) => {
            let message = format!("`{name}!` takes one template string literal, as in `{example}`");
            return syn::Error::new(error.span(), message).to_compile_error();
        }
    };
    let mut errors = Errors::new();
    let template = Template::parse(&lit, kind, &mut errors);
    match (errors.finish(), template) {
        (Ok(()), Some(template)) => template.key_spec().render_unprefixed(),
        (Err(error), _) => error.to_compile_error(),
        (Ok(()), None) => panic!("no template, and no error saying why"),
    }
}
