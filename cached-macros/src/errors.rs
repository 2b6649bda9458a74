//! The one error channel: every stage reports its mistakes here, so a user sees all of them at
//! once, and nothing is emitted until the collection has been checked.

use proc_macro2::Span;
use quote::ToTokens;

/// Mistakes collected across parsing and validation.
///
/// Must be consumed by [`Errors::finish`]: dropping it unchecked is a bug in the macro and
/// panics, so that no stage can collect an error that is then silently lost (as serde's `Ctxt`).
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
    checked: bool,
}

impl Errors {
    pub(crate) fn new() -> Errors {
        Errors {
            errors: Vec::new(),
            checked: false,
        }
    }

    pub(crate) fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.add(syn::Error::new(span, message));
    }

    /// Spans the error over all of `tokens` (start to end), not just their first token.
    pub(crate) fn push_spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.add(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn add(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok` if nothing was reported, else every error combined, in the order reported.
    pub(crate) fn finish(mut self) -> syn::Result<()> {
        self.checked = true;
        let mut errors = std::mem::take(&mut self.errors).into_iter();
        match errors.next() {
            Some(mut combined) => {
                combined.extend(errors);
                Err(combined)
            }
            None => Ok(()),
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !self.checked && !std::thread::panicking() {
            panic!("`Errors` dropped without `finish()`: reported mistakes would be lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::Errors;

    #[test]
    fn finish_reports_every_error_in_order() {
        let mut errors = Errors::new();
        errors.push(Span::call_site(), "first");
        errors.push(Span::call_site(), "second");
        let combined = errors.finish().expect_err("two errors were reported");
        let messages: Vec<String> = combined.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn finish_without_errors_is_ok() {
        assert!(Errors::new().finish().is_ok());
    }

    #[test]
    #[should_panic(expected = "dropped without `finish()`")]
    fn unchecked_errors_panic() {
        let mut errors = Errors::new();
        errors.push(Span::call_site(), "lost");
    }
}
