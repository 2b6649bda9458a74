//! Key encoding: the [`KeyPart`] trait, the [`KeyWriter`] and how values are written into keys.
//!
//! # Encoding
//!
//! Literal template text is written as is. An interpolated value is encoded so that
//!
//! * two different argument lists never give the same key: text keeps ASCII letters, digits and
//!   `.`, `_`, `-`, `@`, and writes every other byte as `%XX`, so a value never contains the `:`
//!   (or any other separator) that the macro requires between placeholders; `None` is `~`, which
//!   text never contains;
//! * a value can never act as a glob in a pattern (`*`, `?`, `[`, `]`, `\`) or move a key to
//!   another cluster hash slot (`{`, `}`): those characters are always escaped.
//!
//! Integers are written in decimal and simple ids stay as they are, so `user:<user_id>` with
//! `42` is the Redis key `user:42`.

use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

/// A value that can be part of a cache key.
///
/// Implemented for integers, `bool`, `char`, `str`, `String`, `Option<T>` and references and
/// smart pointers to these; with the `uuid` feature for `uuid::Uuid`, and with the `chrono`
/// feature for `NaiveDate`, `NaiveTime`, `NaiveDateTime` and `DateTime<Tz>` (in UTC).
///
/// Floats are deliberately not key parts: `0.1 + 0.2` and `0.3` print differently, and `-0.0`
/// equals `0.0`, so a float key would miss or collide silently.
///
/// Implement it for your own types by writing their identity through [`KeyWriter`]:
///
/// ```
/// use redcache::{KeyPart, KeyWriter};
///
/// struct Email(String);
///
/// impl KeyPart for Email {
///     fn write_key_part(&self, key: &mut KeyWriter) {
///         key.write_str(&self.0.to_lowercase());
///     }
/// }
///
/// let email = Email("Ada@Example.com".into());
/// assert_eq!(redcache::key!("user:<email>"), "user:ada@example.com");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key",
    label = "this placeholder's value is a `{Self}`",
    note = "key parts are integers, `bool`, `char`, `str`, `String`, `Option` of these, and types that implement `redcache::KeyPart`",
    note = "floats are not key parts (equal numbers can print differently); to leave an argument out of the key, list it in `skip(..)`"
)]
pub trait KeyPart {
    /// Writes this value into the key. Use [`KeyWriter::write_str`] or
    /// [`KeyWriter::write_display`], which escape what needs escaping, and
    /// [`KeyWriter::write_separator`] between the fields of a composite value.
    fn write_key_part(&self, key: &mut KeyWriter);
}

/// The key under construction, handed to [`KeyPart::write_key_part`].
///
/// Its methods escape what a value must not write into a key (separators, globs, cluster hash
/// tags), except [`write_separator`](KeyWriter::write_separator), which separates fields.
///
/// ```
/// use redcache::{KeyPart, KeyWriter, key};
///
/// struct Point { x: i32, y: i32 }
///
/// impl KeyPart for Point {
///     fn write_key_part(&self, key: &mut KeyWriter) {
///         key.write_display(self.x);
///         key.write_separator();
///         key.write_display(self.y);
///     }
/// }
///
/// let at = Point { x: 3, y: -4 };
/// assert_eq!(key!("tile:<at>"), "tile:3:-4");
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeyWriter {
    buf: KeyBuf,
}

/// Keys up to this long are built on the stack: a hit on the memory store then allocates
/// nothing for its key. Longer ones move to the heap as they grow.
const INLINE: usize = 96;

/// A key's bytes: inline while short, on the heap past [`INLINE`] bytes.
#[derive(Debug, Clone)]
enum KeyBuf {
    Inline(arrayvec::ArrayString<INLINE>),
    Heap(String),
}

impl Default for KeyBuf {
    fn default() -> Self {
        KeyBuf::Inline(arrayvec::ArrayString::new())
    }
}

impl KeyBuf {
    #[inline(always)]
    fn push_str(&mut self, text: &str) {
        match self {
            KeyBuf::Inline(inline) => {
                if inline.try_push_str(text).is_err() {
                    self.spill(text);
                }
            }
            KeyBuf::Heap(heap) => heap.push_str(text),
        }
    }

    /// Moves an inline key that `text` would overflow to the heap, with `text` added.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, text: &str) {
        let mut heap = String::with_capacity(2 * INLINE + text.len());
        heap.push_str(self.as_str());
        heap.push_str(text);
        *self = KeyBuf::Heap(heap);
    }

    #[inline]
    fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    #[inline]
    fn as_str(&self) -> &str {
        match self {
            KeyBuf::Inline(inline) => inline,
            KeyBuf::Heap(heap) => heap,
        }
    }

    /// Inserts `c` at byte `at` (rare: a nested `None`), on the heap.
    fn insert(&mut self, at: usize, c: char) {
        let mut heap = self.as_str().to_owned();
        heap.insert(at, c);
        *self = KeyBuf::Heap(heap);
    }
}

/// `None` in a key. Text never contains it, so `None` and `Some("")` differ.
const NONE_MARKER: char = '~';

impl KeyWriter {
    #[inline(always)]
    pub(crate) fn with_prefix(prefix: &str, capacity: usize) -> Self {
        let mut buf = if prefix.len() + capacity <= INLINE {
            KeyBuf::default()
        } else {
            KeyBuf::Heap(String::with_capacity(prefix.len() + capacity))
        };
        buf.push_str(prefix);
        KeyWriter { buf }
    }

    /// Writes text, escaping every byte that is not an ASCII letter or digit or one of `.`,
    /// `_`, `-`, `@`.
    ///
    /// ```
    /// use redcache::{KeyPart, KeyWriter, key};
    ///
    /// struct Tag(String);
    ///
    /// impl KeyPart for Tag {
    ///     fn write_key_part(&self, key: &mut KeyWriter) {
    ///         key.write_str(&self.0);
    ///     }
    /// }
    ///
    /// let tag = Tag("rust lang/*".into());
    /// assert_eq!(key!("tag:<tag>"), "tag:rust%20lang%2F%2A");
    /// ```
    pub fn write_str(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !is_plain(b) {
                if start < i {
                    self.buf.push_str(&text[start..i]);
                }
                push_escaped(&mut self.buf, b);
                start = i + 1;
            }
        }
        // Every byte of a multi-byte char is escaped, so the plain runs sliced here start and
        // end on char boundaries.
        self.buf.push_str(&text[start..]);
    }

    /// Separates two fields of a composite key part with a `:` that no value can produce
    /// (values write theirs as `%3A`), so `("a:b", "c")` and `("a", "b:c")` stay distinct.
    ///
    /// ```
    /// use redcache::{KeyPart, KeyWriter, key};
    ///
    /// struct Pair(String, String);
    ///
    /// impl KeyPart for Pair {
    ///     fn write_key_part(&self, key: &mut KeyWriter) {
    ///         key.write_str(&self.0);
    ///         key.write_separator();
    ///         key.write_str(&self.1);
    ///     }
    /// }
    ///
    /// let (a, b) = (Pair("a:b".into(), "c".into()), Pair("a".into(), "b:c".into()));
    /// assert_eq!(key!("pair:<a>"), "pair:a%3Ab:c");
    /// assert_eq!(key!("pair:<b>"), "pair:a:b%3Ac");
    /// ```
    pub fn write_separator(&mut self) {
        self.buf.push(':');
    }

    /// Writes a value's `Display` form, escaped as by [`KeyWriter::write_str`], without
    /// building a `String` first.
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use redcache::{KeyPart, KeyWriter, key};
    ///
    /// struct Client(Ipv4Addr);
    ///
    /// impl KeyPart for Client {
    ///     fn write_key_part(&self, key: &mut KeyWriter) {
    ///         key.write_display(self.0);
    ///     }
    /// }
    ///
    /// let client = Client(Ipv4Addr::new(10, 0, 0, 1));
    /// assert_eq!(key!("quota:<client>"), "quota:10.0.0.1");
    /// ```
    pub fn write_display(&mut self, value: impl fmt::Display) {
        struct Escaping<'a>(&'a mut KeyWriter);
        impl fmt::Write for Escaping<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.write_str(s);
                Ok(())
            }
        }
        // Writing into a `String` cannot fail.
        let _ = fmt::write(&mut Escaping(self), format_args!("{value}"));
    }

    /// Writes template text verbatim (it comes from the macro, already validated).
    #[inline]
    pub(crate) fn push_literal(&mut self, text: &str) {
        self.buf.push_str(text);
    }

    /// Writes a stable hash of the value instead of the value (`<name:hash>`).
    pub(crate) fn push_hashed<T: KeyPart + ?Sized>(&mut self, value: &T) {
        use sha2::Digest;
        let mut plain = KeyWriter::default();
        value.write_key_part(&mut plain);
        let digest = sha2::Sha256::digest(plain.as_str().as_bytes());
        // 128 bits is plenty to make collisions impossible in practice and keeps keys short.
        for byte in &digest[..16] {
            push_hex(&mut self.buf, *byte);
        }
    }

    /// The key, owned.
    pub(crate) fn finish(self) -> String {
        match self.buf {
            KeyBuf::Inline(inline) => inline.as_str().to_owned(),
            KeyBuf::Heap(heap) => heap,
        }
    }

    /// The key so far.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        self.buf.as_str()
    }

    #[inline]
    fn write_raw(&mut self, text: &str) {
        self.buf.push_str(text);
    }
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@')
}

fn push_escaped(buf: &mut KeyBuf, b: u8) {
    buf.push('%');
    push_hex(buf, b);
}

fn push_hex(buf: &mut KeyBuf, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    buf.push(HEX[usize::from(b >> 4)] as char);
    buf.push(HEX[usize::from(b & 0xF)] as char);
}

macro_rules! integer_key_parts {
    ($($t:ty)*) => {$(
        impl KeyPart for $t {
            #[inline]
            fn write_key_part(&self, key: &mut KeyWriter) {
                key.write_raw(itoa::Buffer::new().format(*self));
            }
        }
    )*};
}
integer_key_parts!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize);

macro_rules! nonzero_key_parts {
    ($($t:ty)*) => {$(
        impl KeyPart for $t {
            #[inline]
            fn write_key_part(&self, key: &mut KeyWriter) {
                self.get().write_key_part(key);
            }
        }
    )*};
}
nonzero_key_parts!(
    std::num::NonZeroU8 std::num::NonZeroU16 std::num::NonZeroU32 std::num::NonZeroU64
    std::num::NonZeroU128 std::num::NonZeroUsize std::num::NonZeroI8 std::num::NonZeroI16
    std::num::NonZeroI32 std::num::NonZeroI64 std::num::NonZeroI128 std::num::NonZeroIsize
);

impl KeyPart for bool {
    fn write_key_part(&self, key: &mut KeyWriter) {
        key.write_raw(if *self { "true" } else { "false" });
    }
}

impl KeyPart for char {
    fn write_key_part(&self, key: &mut KeyWriter) {
        key.write_str(self.encode_utf8(&mut [0; 4]));
    }
}

impl KeyPart for str {
    #[inline]
    fn write_key_part(&self, key: &mut KeyWriter) {
        key.write_str(self);
    }
}

impl KeyPart for String {
    #[inline]
    fn write_key_part(&self, key: &mut KeyWriter) {
        key.write_str(self);
    }
}

impl<T: KeyPart> KeyPart for Option<T> {
    fn write_key_part(&self, key: &mut KeyWriter) {
        match self {
            None => key.buf.push(NONE_MARKER),
            Some(value) => {
                let start = key.as_str().len();
                value.write_key_part(key);
                // Only a nested `None` starts with the marker: tell `Some(None)` from `None`.
                if key.as_str()[start..].starts_with(NONE_MARKER) {
                    key.buf.insert(start, NONE_MARKER);
                }
            }
        }
    }
}

macro_rules! forwarding_key_parts {
    ($($(#[$m:meta])* [$($g:tt)*] $t:ty;)*) => {$(
        impl<$($g)*> KeyPart for $t {
            #[inline]
            fn write_key_part(&self, key: &mut KeyWriter) {
                (**self).write_key_part(key);
            }
        }
    )*};
}
forwarding_key_parts! {
    [T: KeyPart + ?Sized] &T;
    [T: KeyPart + ?Sized] &mut T;
    [T: KeyPart + ?Sized] Box<T>;
    [T: KeyPart + ?Sized] Rc<T>;
    [T: KeyPart + ?Sized] Arc<T>;
}

impl KeyPart for Cow<'_, str> {
    fn write_key_part(&self, key: &mut KeyWriter) {
        key.write_str(self);
    }
}

/// With the `uuid` feature: the hyphenated lower-case form,
/// `67e55044-10b1-426f-9247-bb680e5fe0c8`.
#[cfg(feature = "uuid")]
impl KeyPart for uuid::Uuid {
    fn write_key_part(&self, key: &mut KeyWriter) {
        key.write_str(
            self.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        );
    }
}

/// With the `chrono` feature: dates and times as they display (`2026-11-22`,
/// `2026-11-22 04:43:59.123`, its `:` escaped like any value's).
#[cfg(feature = "chrono")]
mod chrono_key_parts {
    use super::{KeyPart, KeyWriter};

    macro_rules! displayed_key_parts {
        ($($t:ty)*) => {$(
            impl KeyPart for $t {
                fn write_key_part(&self, key: &mut KeyWriter) {
                    key.write_display(self);
                }
            }
        )*};
    }
    displayed_key_parts!(chrono::NaiveDate chrono::NaiveTime chrono::NaiveDateTime);

    /// An instant, written in UTC: the same instant in two time zones is one key (they are
    /// equal `DateTime`s).
    impl<Tz: chrono::TimeZone> KeyPart for chrono::DateTime<Tz> {
        fn write_key_part(&self, key: &mut KeyWriter) {
            self.naive_utc().write_key_part(key);
        }
    }
}

/// Escapes glob characters in `text` so a pattern matches it literally (used for the prefix).
pub(crate) fn escape_glob(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(is_glob_special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if c.is_ascii() && is_glob_special(c as u8) {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn is_glob_special(b: u8) -> bool {
    matches!(b, b'*' | b'?' | b'[' | b']' | b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of<T: KeyPart + ?Sized>(value: &T) -> String {
        let mut key = KeyWriter::default();
        value.write_key_part(&mut key);
        key.finish()
    }

    #[test]
    fn keys_longer_than_the_inline_buffer_move_to_the_heap_intact() {
        let long = "x".repeat(INLINE - 3);
        let mut key = KeyWriter::with_prefix("app:", 8);
        key.write_str(&long);
        key.write_str("a:b");
        Some(None::<u8>).write_key_part(&mut key);
        assert_eq!(key.as_str(), format!("app:{long}a%3Ab~~"));
        assert_eq!(key.finish(), format!("app:{long}a%3Ab~~"));
        assert_eq!(key_of(&Some(None::<u8>)), "~~", "inline too");
    }

    #[test]
    fn integers_and_simple_ids_stay_readable() {
        assert_eq!(key_of(&42u64), "42");
        assert_eq!(key_of(&-7i32), "-7");
        assert_eq!(key_of("alice@example.com"), "alice@example.com");
        assert_eq!(key_of("v1.2_x-y"), "v1.2_x-y");
    }

    #[test]
    fn separators_globs_and_hash_tags_are_escaped() {
        assert_eq!(key_of("a:b"), "a%3Ab");
        assert_eq!(key_of("*?[]\\"), "%2A%3F%5B%5D%5C");
        assert_eq!(key_of("{tag}"), "%7Btag%7D");
        assert_eq!(key_of("100%"), "100%25");
        assert_eq!(key_of("é"), "%C3%A9");
    }

    #[test]
    fn options_are_distinct_from_their_contents() {
        assert_eq!(key_of(&None::<&str>), "~");
        assert_eq!(key_of(&Some("")), "");
        assert_eq!(key_of(&Some("~")), "%7E");
        assert_eq!(key_of(&Some(None::<u8>)), "~~");
        assert_eq!(key_of(&None::<Option<u8>>), "~");
        assert_eq!(key_of(&Some(Some(3u8))), "3");
    }

    #[test]
    fn hash_is_stable_and_hides_the_value() {
        let mut key = KeyWriter::default();
        key.push_hashed("secret@example.com");
        let hashed = key.finish();
        assert_eq!(hashed.len(), 32);
        assert!(!hashed.contains("secret"));
        let mut again = KeyWriter::default();
        again.push_hashed(&String::from("secret@example.com"));
        assert_eq!(again.finish(), hashed);
    }

    struct Pair(&'static str, &'static str);

    impl KeyPart for Pair {
        fn write_key_part(&self, key: &mut KeyWriter) {
            key.write_str(self.0);
            key.write_separator();
            key.write_str(self.1);
        }
    }

    #[test]
    fn separators_keep_composite_parts_apart() {
        assert_eq!(key_of(&Pair("a:b", "c")), "a%3Ab:c");
        assert_eq!(key_of(&Pair("a", "b:c")), "a:b%3Ac");
    }

    #[test]
    fn glob_escaping() {
        assert_eq!(escape_glob("app:"), "app:");
        assert_eq!(escape_glob("a*b[c]"), "a\\*b\\[c\\]");
    }
}
