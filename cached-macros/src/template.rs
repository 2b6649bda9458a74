//! Key templates (`"user:<user_id>"`, `"<req.tenant>:<email:hash>"`, `"<<literal>>"`): their
//! syntax and its rules (placeholders, separators, globs in patterns, no leading `#`), and the
//! [`KeySpec`] each describes.
//!
//! Every error is spanned at the template. Whether its placeholders name parameters is checked
//! in `validate`.

use proc_macro2::Span;
use quote::{quote, quote_spanned};
use syn::LitStr;

use crate::errors::Errors;
use crate::key_spec::{KeySpec, Kind, Piece};

pub(crate) struct Template {
    kind: Kind,
    span: Span,
    segments: Vec<Segment>,
}

enum Segment {
    Literal(String),
    Value(Placeholder),
}

pub(crate) struct Placeholder {
    /// The parameter it reads (`self` for the receiver).
    pub(crate) root: String,
    /// Field path below the parameter: `["profile", "id"]` for `<user.profile.id>`.
    fields: Vec<String>,
    /// `<name:hash>`: store a hash of the value instead of the value.
    hash: bool,
    /// As written, with its angle brackets, for messages.
    pub(crate) written: String,
}

/// Characters an encoded value can contain (see the runtime's `key` module). Literal text
/// between two placeholders must contain some other character, or two different argument
/// lists could produce the same key.
fn is_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '%' | '~')
}

fn is_glob_char(c: char) -> bool {
    matches!(c, '*' | '?' | '[' | ']')
}

/// Walking away from a placeholder through `chars`, the first character no value can contain,
/// if it is a glob: then the glob can also consume characters of a value.
fn glob_beside_value(mut chars: impl Iterator<Item = char>) -> Option<char> {
    chars
        .find(|&c| !is_value_char(c))
        .filter(|&c| is_glob_char(c))
}

impl Template {
    pub(crate) fn parse(lit: &LitStr, kind: Kind, errors: &mut Errors) -> Option<Template> {
        let text = lit.value();
        let span = lit.span();
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        let mut ok = true;
        while let Some((at, c)) = chars.next() {
            match c {
                '<' if chars.peek().map(|&(_, next)| next) == Some('<') => {
                    chars.next();
                    literal.push('<');
                }
                '>' if chars.peek().map(|&(_, next)| next) == Some('>') => {
                    chars.next();
                    literal.push('>');
                }
                '>' => {
                    errors.push(
                        span,
                        format!("unmatched `>` in template {text:?}; write `>>` for a literal `>`"),
                    );
                    ok = false;
                }
                '<' => {
                    let rest = &text[at + 1..];
                    let Some(end) = rest
                        .find(['>', '<'])
                        .filter(|&end| rest[end..].starts_with('>'))
                    else {
                        errors.push(
                            span,
                            format!(
                                "unclosed `<` in template {text:?}; close the placeholder with `>`, or write `<<` for a literal `<`"
                            ),
                        );
                        return None;
                    };
                    let inner = &rest[..end];
                    for _ in 0..inner.chars().count() + 1 {
                        chars.next();
                    }
                    match Placeholder::parse(inner, span, errors) {
                        Some(placeholder) => {
                            if !literal.is_empty() {
                                segments.push(Segment::Literal(std::mem::take(&mut literal)));
                            }
                            segments.push(Segment::Value(placeholder));
                        }
                        None => ok = false,
                    }
                }
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        let template = Template {
            kind,
            span,
            segments,
        };
        ok &= template.check_separators(errors);
        if kind != Kind::Tag {
            ok &= template.check_reserved_start(&text, errors);
        }
        if kind == Kind::Pattern {
            ok &= template.check_globs_next_to_values(&text, errors);
        }
        ok.then_some(template)
    }

    /// Two placeholders need literal text between them that no value can contain.
    fn check_separators(&self, errors: &mut Errors) -> bool {
        let mut ok = true;
        for pair in self.segments.windows(2) {
            if let [Segment::Value(a), Segment::Value(b)] = pair {
                errors.push(self.span, adjacent_message(a, b, ""));
                ok = false;
            }
        }
        for triple in self.segments.windows(3) {
            if let [
                Segment::Value(a),
                Segment::Literal(between),
                Segment::Value(b),
            ] = triple
            {
                if between.chars().all(is_value_char) {
                    errors.push(self.span, adjacent_message(a, b, between));
                    ok = false;
                }
            }
        }
        ok
    }

    /// Keys whose first character after the cache's prefix is `#` are the runtime's own (its
    /// tag bookkeeping). A value never writes a `#` (it is `%23`), `None` is `~` and a default
    /// key starts with a path, so only literal text can start a key or a pattern with one:
    /// text at the start, or right after a first placeholder whose value writes nothing (an
    /// empty string). Tags may: the runtime renders them under a marker of its own.
    fn check_reserved_start(&self, text: &str, errors: &mut Errors) -> bool {
        let (first_value, literal) = match self.segments.as_slice() {
            [Segment::Literal(literal), ..] => (None, literal),
            [Segment::Value(value), Segment::Literal(literal), ..] => (Some(value), literal),
            _ => return true,
        };
        if !literal.starts_with('#') {
            return true;
        }
        let what = if self.kind == Kind::Pattern {
            "pattern"
        } else {
            "key"
        };
        let (when, fix) = match first_value {
            None => {
                let example = match text.trim_start_matches('#') {
                    "" => String::new(),
                    rest => format!(", as in {rest:?}"),
                };
                (String::new(), format!("drop or replace the `#`{example}"))
            }
            Some(value) => {
                let written = &value.written;
                let fixed = text.replacen(&format!("{written}#"), &format!("{written}:"), 1);
                (
                    format!(" when `{written}` writes nothing (an empty string)"),
                    format!("replace the `#`, as in {fixed:?}, or start with literal text"),
                )
            }
        };
        errors.push(
            self.span,
            format!(
                "{what} {text:?} starts with `#`{when}, and keys starting with `#` are reserved for redcache's own bookkeeping; {fix}"
            ),
        );
        false
    }

    /// In a pattern, a glob directly beside a placeholder (`user:<id>*`) also matches other
    /// values that start or end like this one (ids 10 to 19 for id 1).
    fn check_globs_next_to_values(&self, text: &str, errors: &mut Errors) -> bool {
        let literal_at = |index: Option<usize>| match index.and_then(|i| self.segments.get(i)) {
            Some(Segment::Literal(literal)) => literal.as_str(),
            _ => "",
        };
        let mut ok = true;
        for (i, segment) in self.segments.iter().enumerate() {
            let Segment::Value(value) = segment else {
                continue;
            };
            let (written, root) = (&value.written, &value.root);
            let after = literal_at(Some(i + 1));
            if let Some(glob) = glob_beside_value(after.chars()) {
                let fixed = text.replacen(written, &format!("{written}:"), 1);
                errors.push(
                    self.span,
                    format!(
                        "`{glob}` right after `{written}` also matches longer values (with `{root}` = 1 it matches 10 to 19 too); put a separator between them: {fixed:?}"
                    ),
                );
                ok = false;
            }
            let before = literal_at(i.checked_sub(1));
            if let Some(glob) = glob_beside_value(before.chars().rev()) {
                let fixed = text.replacen(written, &format!(":{written}"), 1);
                errors.push(
                    self.span,
                    format!(
                        "`{glob}` right before `{written}` also matches values that end like this one (with `{root}` = 1 it matches 11, 21, ... too); put a separator between them: {fixed:?}"
                    ),
                );
                ok = false;
            }
        }
        ok
    }

    /// The string literal's span: errors about the template point at it.
    pub(crate) fn span(&self) -> Span {
        self.span
    }

    /// The parameters this template reads.
    pub(crate) fn roots(&self) -> impl Iterator<Item = &str> {
        self.placeholders().map(|p| p.root.as_str())
    }

    pub(crate) fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Value(placeholder) => Some(placeholder),
            Segment::Literal(_) => None,
        })
    }

    /// The key this template describes.
    pub(crate) fn key_spec(&self) -> KeySpec {
        let capacity: usize = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => text.len(),
                Segment::Value(_) => 16,
            })
            .sum();
        let pieces = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => Piece::Text(quote!(#text)),
                Segment::Value(placeholder) => placeholder.piece(self.span),
            })
            .collect();
        KeySpec::new(self.kind, capacity, pieces)
    }
}

impl Placeholder {
    fn parse(inner: &str, span: Span, errors: &mut Errors) -> Option<Placeholder> {
        let written = format!("<{inner}>");
        let (path, modifier) = match inner.split_once(':') {
            Some((path, modifier)) => (path, Some(modifier)),
            None => (inner, None),
        };
        let hash = match modifier {
            None => false,
            Some("hash") => true,
            Some(other) => {
                errors.push(
                    span,
                    format!("unknown modifier `:{other}` in `{written}`; the only modifier is `:hash`, as in `<{path}:hash>`"),
                );
                return None;
            }
        };
        if path.trim().is_empty() {
            errors.push(
                span,
                format!("empty placeholder `{written}`; name a parameter, as in `<user_id>`, or write `<<` and `>>` for literal angle brackets"),
            );
            return None;
        }
        let mut parts = path.split('.');
        let root = parts.next().unwrap_or_default().to_owned();
        let fields: Vec<String> = parts.map(str::to_owned).collect();
        let root_ok = is_identifier(&root);
        let fields_ok = fields
            .iter()
            .all(|f| is_identifier(f) || (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())));
        if !root_ok || !fields_ok {
            errors.push(
                span,
                format!("`{written}` is not a placeholder: write a parameter name, optionally followed by fields, as in `<user.id>` or `<pair.0>`"),
            );
            return None;
        }
        Some(Placeholder {
            root,
            fields,
            hash,
            written,
        })
    }

    /// The value this placeholder reads, located at the template so that a value whose type
    /// is not a key part is reported there. The span keeps the macro's own context, so rustc
    /// does not offer fixes that would rewrite the template literal into Rust code.
    fn piece(&self, template_span: Span) -> Piece {
        let span = Span::call_site().located_at(template_span);
        let root = syn::Ident::new(&self.root, span);
        let fields = self.fields.iter().map(|field| match field.parse::<u32>() {
            Ok(index) => {
                let index = syn::Index { index, span };
                quote_spanned!(span=> .#index)
            }
            Err(_) => {
                let ident = syn::Ident::new(field, span);
                quote_spanned!(span=> .#ident)
            }
        });
        Piece::Value {
            place: quote_spanned!(span=> #root #(#fields)*),
            hash: self.hash,
            span,
        }
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && text != "_"
}

fn adjacent_message(a: &Placeholder, b: &Placeholder, between: &str) -> String {
    let (a, b) = (&a.written, &b.written);
    let problem = if between.is_empty() {
        format!("`{a}` and `{b}` are adjacent")
    } else {
        format!("`{a}` and `{b}` are separated only by `{between}`, which values can contain too")
    };
    format!(
        "{problem}, so different arguments could build the same key; put a separator such as `:` between them: `{a}:{b}`"
    )
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;
    use syn::LitStr;

    use super::Template;
    use crate::errors::Errors;
    use crate::key_spec::Kind;

    /// The messages `text` gets as a template of `kind`.
    fn mistakes(text: &str, kind: Kind) -> Vec<String> {
        let mut errors = Errors::new();
        let parsed = Template::parse(&LitStr::new(text, Span::call_site()), kind, &mut errors);
        let messages: Vec<String> = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(combined) => combined.into_iter().map(|e| e.to_string()).collect(),
        };
        assert_eq!(parsed.is_none(), !messages.is_empty(), "{text:?}");
        messages
    }

    #[test]
    fn keys_and_patterns_cannot_start_with_a_hash() {
        assert_eq!(
            mistakes("#user:<id>", Kind::Key),
            [
                "key \"#user:<id>\" starts with `#`, and keys starting with `#` are reserved for redcache's own bookkeeping; drop or replace the `#`, as in \"user:<id>\""
            ]
        );
        assert_eq!(
            mistakes("<tenant>#<id>", Kind::Key),
            [
                "key \"<tenant>#<id>\" starts with `#` when `<tenant>` writes nothing (an empty string), and keys starting with `#` are reserved for redcache's own bookkeeping; replace the `#`, as in \"<tenant>:<id>\", or start with literal text"
            ]
        );
        assert_eq!(
            mistakes("##", Kind::Pattern),
            [
                "pattern \"##\" starts with `#`, and keys starting with `#` are reserved for redcache's own bookkeeping; drop or replace the `#`"
            ]
        );
    }

    #[test]
    fn a_hash_elsewhere_or_in_a_tag_is_fine() {
        for (text, kind) in [
            ("#user:<id>", Kind::Tag),
            ("user:#<id>", Kind::Key),
            ("<tenant>:#<id>", Kind::Key),
            ("<tenant>#<id>", Kind::Tag),
            ("<<#>>", Kind::Key),
            ("user:<id>:#*", Kind::Pattern),
        ] {
            assert_eq!(mistakes(text, kind), Vec::<String>::new(), "{text:?}");
        }
    }
}
