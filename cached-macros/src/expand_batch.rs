//! `#[cache_batch(key = "user:<ids>", ttl = ..)]`: plan a batch call from the validated
//! function (one collection parameter, named in the key; a map returned, keyed by its
//! elements), then generate the function that keys every element as a single `#[cache]` call
//! would key it and hands them to the runtime's `get_batch`, with the body as a closure over
//! the missed elements.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Signature, Type};

use crate::args::BatchArgs;
use crate::errors::Errors;
use crate::expand_cache::{CallOptions, codec};
use crate::expand_common::{self, cache_binding, moved_body_after, templates};
use crate::key_spec::{KeySpec, Kind};
use crate::signature::{self, Params};
use crate::template::Template;
use crate::validate;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_common::expand(args, item, plan, generate)
}

/// Everything validated that the generated code needs.
struct Plan {
    collection: Collection,
    key: KeySpec,
    tags: Vec<KeySpec>,
    options: CallOptions,
    /// The output is a `Result` of the map.
    result: bool,
    value_type: Type,
    cache: Option<syn::Expr>,
}

/// The collection parameter.
struct Collection {
    name: Ident,
    /// The parameter's pattern as written (`ids`, `mut ids`), to bind the missed elements to.
    pat: Pat,
    ty: Type,
    form: Form,
}

/// The collection types a batch takes.
enum Form {
    /// `&[K]`
    Slice(Type),
    /// `&Vec<K>`
    VecRef(Type),
    /// `Vec<K>`
    Vec,
    /// `HashSet<K>`, `BTreeSet<K>`
    Set,
}

const COLLECTIONS: &str = "`&[K]`, `Vec<K>`, `&Vec<K>`, `HashSet<K>` or `BTreeSet<K>`";

fn plan(function: &ItemFn, args: Option<BatchArgs>, errors: &mut Errors) -> Option<Plan> {
    let sig = &function.sig;
    validate::is_async(sig, "cache_batch", errors);
    let returned = map_return(sig, errors);
    let collection = collection(sig, errors);
    let BatchArgs(args) = args?;
    let params = Params::of(sig);
    validate::params_named(&params, errors);
    validate::skip_list(&args.skip, &params, errors);
    let Some(lit) = &args.key else {
        errors.push(
            proc_macro2::Span::call_site(),
            "`#[cache_batch]` needs `key = ..` naming the collection parameter, as in `key = \"user:<ids>\"`: each element gets the entry `#[cache(key = \"user:<id>\")]` gives one id",
        );
        return None;
    };
    let template = Template::parse(lit, Kind::Key, errors)?;
    if validate::placeholders(&template, &params, errors) {
        validate::key_coverage(Some(&template), &args.skip, &params, errors);
    }
    let collection = collection?;
    if !template.roots().any(|root| collection.name == root) {
        errors.push(
            template.span(),
            format!(
                "the key must name the collection parameter `{0}`, as in \"user:<{0}>\": each element of `{0}` gets its own entry",
                collection.name
            ),
        );
    }
    let tags = templates(&args.tags, Kind::Tag, &params, errors);
    let (result, value_type) = returned?;
    Some(Plan {
        collection,
        key: template.key_spec(),
        tags,
        options: CallOptions {
            ttl: args.ttl?,
            stale: None,
            jitter_percent: args.jitter_percent,
            fail_safe: false,
            lock: false,
            near: args.no_near.is_none(),
        },
        result,
        value_type: value_type.clone(),
        cache: args.cache,
    })
}

/// Whether the function returns a `Result`, and the map's value type.
fn map_return<'a>(sig: &'a Signature, errors: &mut Errors) -> Option<(bool, &'a Type)> {
    let message = "`#[cache_batch]` returns the values it found as `HashMap<K, V>` or `BTreeMap<K, V>` (or a `Result` of one), keyed by the collection's elements";
    let ReturnType::Type(_, ty) = &sig.output else {
        errors.push(sig.ident.span(), message);
        return None;
    };
    let (result, map) = match signature::return_shape(ty) {
        (signature::Shape::OkOnly, inner) => (true, inner),
        _ => (false, &**ty),
    };
    match map_value_type(map) {
        Some(value) => Some((result, value)),
        None => {
            errors.push_spanned(ty, message);
            None
        }
    }
}

/// The `V` of `HashMap<K, V>` or `BTreeMap<K, V>`.
fn map_value_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "HashMap" && last.ident != "BTreeMap" {
        return None;
    }
    type_arguments(&last.arguments).nth(1)
}

fn type_arguments(arguments: &PathArguments) -> impl Iterator<Item = &Type> {
    let args = match arguments {
        PathArguments::AngleBracketed(args) => Some(args.args.iter()),
        _ => None,
    };
    args.into_iter().flatten().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// The one collection parameter.
fn collection(sig: &Signature, errors: &mut Errors) -> Option<Collection> {
    let mut found: Vec<Collection> = Vec::new();
    for input in &sig.inputs {
        let FnArg::Typed(typed) = input else { continue };
        let Pat::Ident(pat) = &*typed.pat else {
            continue;
        };
        if let Some(form) = form(&typed.ty) {
            found.push(Collection {
                name: pat.ident.clone(),
                pat: (*typed.pat).clone(),
                ty: (*typed.ty).clone(),
                form,
            });
        }
    }
    match found.len() {
        1 => found.pop(),
        0 => {
            errors.push(
                sig.paren_token.span.join(),
                format!("`#[cache_batch]` needs one collection parameter, of type {COLLECTIONS}, whose elements are the keys"),
            );
            None
        }
        _ => {
            for extra in &found[1..] {
                errors.push(
                    extra.name.span(),
                    format!(
                        "`#[cache_batch]` takes one collection parameter, and `{}` is a second one besides `{}`; batch over one of them, and call the function once per value of the other",
                        extra.name, found[0].name
                    ),
                );
            }
            None
        }
    }
}

fn form(ty: &Type) -> Option<Form> {
    match ty {
        Type::Reference(reference) => match &*reference.elem {
            Type::Slice(slice) => Some(Form::Slice((*slice.elem).clone())),
            Type::Path(path) => {
                let last = path.path.segments.last()?;
                let element = type_arguments(&last.arguments).next()?;
                (last.ident == "Vec").then(|| Form::VecRef(element.clone()))
            }
            _ => None,
        },
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            type_arguments(&last.arguments).next()?;
            match last.ident.to_string().as_str() {
                "Vec" => Some(Form::Vec),
                "HashSet" | "BTreeSet" => Some(Form::Set),
                _ => None,
            }
        }
        _ => None,
    }
}

fn generate(function: ItemFn, plan: Plan) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let Plan {
        collection,
        key,
        tags,
        options,
        result,
        value_type,
        cache,
    } = plan;
    let cache = cache_binding(cache.as_ref());
    let key = key.render();
    let tags = tags.iter().map(KeySpec::render);
    let options = options.render();
    let codec = codec(&value_type);
    let shape = if result {
        quote!(::redcache::__private::OkMap)
    } else {
        quote!(::redcache::__private::WholeMap)
    };
    let Collection {
        name,
        pat,
        ty,
        form,
    } = collection;
    // Iterates the collection by reference.
    let items = match form {
        Form::Slice(_) | Form::VecRef(_) => quote!(#name),
        Form::Vec | Form::Set => quote!(&#name),
    };
    // Binds the missed elements to the parameter's name, with its type, for the body.
    let missed = quote!(__redcache_missed);
    let rebind = match form {
        Form::Slice(element) => quote!(let #pat: &[#element] = &#missed;),
        Form::VecRef(element) => quote!(let #pat: &::std::vec::Vec<#element> = &#missed;),
        Form::Vec => quote!(let #pat: #ty = #missed;),
        Form::Set => quote! {
            let #pat: #ty = ::core::iter::Iterator::collect(::core::iter::IntoIterator::into_iter(#missed));
        },
    };
    let body = moved_body_after(signature::return_type(&sig), &block, rebind);
    let elements = quote_spanned! {ty.span()=>
        ::redcache::__private::elements(#items, |#name| (#key, ::std::vec![#(#tags),*]))
    };
    let name = syn::ext::IdentExt::unraw(&sig.ident).to_string();
    let statements = quote! {
        #cache
        // The function, for its own counters (`Cache::function_stats`), as for `#[cache]`.
        static __REDCACHE_SITE: ::redcache::__private::CallSite =
            ::redcache::__private::CallSite::new(::core::concat!(::core::module_path!(), "::", #name));
        let __redcache_elements = #elements;
        ::redcache::__private::get_batch::<#shape, _, _, _, _, _>(
            __redcache_cache,
            __redcache_elements,
            #options.function(&__REDCACHE_SITE),
            #codec,
            move |#missed: ::std::vec::Vec<_>| #body,
        )
        .await
    };
    expand_common::function(attrs, &vis, &sig, statements.into_token_stream())
}
