//! Signatures users write: generics with bounds (type, `?Sized` and const parameters, all part
//! of the key), `where` clauses, lifetimes, `impl Trait` arguments (skipped), `mut` bindings,
//! `?` in the body, early `return`, methods reading fields, trait impls, and `cache = ..`
//! expressions.
#![deny(warnings)]

use std::sync::LazyLock;

use redcache::{Cache, KeyPart, cache, invalidate};

static APP_CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);

#[derive(Debug)]
struct AppError;

impl From<std::num::ParseIntError> for AppError {
    fn from(_: std::num::ParseIntError) -> Self {
        AppError
    }
}

#[cache(key = "parse:<text>", ttl = 60, cache = &APP_CACHE)]
async fn parse(text: &str) -> Result<u64, AppError> {
    if text.is_empty() {
        return Ok(0);
    }
    let n: u64 = text.parse()?;
    Ok(n)
}

#[cache(key = "generic:<id>", ttl = 60)]
async fn generic<T>(id: T) -> String
where
    T: KeyPart + std::fmt::Display + Send,
{
    id.to_string()
}

/// A generic cached type without a `Clone` bound: decoded from JSON even in memory.
#[cache(key = "decoded:<id>", ttl = 60)]
async fn decoded<T>(id: u64) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send,
{
    let _ = id;
    None
}

/// Type parameters, `?Sized` ones too, and const parameters are part of the key.
#[cache(key = "sized:<id>", ttl = 60)]
async fn unsized_and_const<'a, T: ?Sized, const N: usize, const B: bool, const C: char>(
    id: &'a str,
) -> usize {
    id.len() + N + usize::from(B) + C.len_utf8()
}

#[invalidate(unsized_and_const::<[u8], 3, true, 'x'>(id))]
async fn forget_unsized(id: &str) {}

#[cache(key = "first:<items.0>", ttl = 60, skip(log))]
async fn first<'a>(items: &'a (u32, u32), log: impl Fn(&str) + Send) -> u32 {
    log("called");
    items.0
}

#[cache(key = "count:<n>", ttl = "1h")]
async fn count(mut n: u32) -> u32 {
    n += 1;
    n
}

#[cache(key = "hashed:<secret:hash>", ttl = "7d")]
async fn hashed(secret: String) -> usize {
    secret.len()
}

#[cache(key = "resilient:<id>", ttl = "10m", stale = "1h", fail_safe = true, jitter = "10%", lock, tags = ["user:<id>", "resilient"])]
async fn resilient(id: u64) -> Result<u64, AppError> {
    Ok(id)
}

#[cache(ttl = 30)]
async fn default_key(a: u8, b: Option<String>) -> Vec<String> {
    vec![a.to_string(), format!("{b:?}")]
}

struct Repo {
    cache: Cache,
    tenant: String,
}

impl Repo {
    #[cache(key = "t:<self.tenant>:user:<id>", ttl = 60, cache = &self.cache)]
    async fn get(&self, id: u64) -> Option<String> {
        Some(format!("{}:{id}", self.tenant))
    }

    #[cache(ttl = 60, skip(self))]
    async fn default_keyed(&self, id: u64) -> u64 {
        id
    }

    #[cache(key = "t:<self.tenant>:as:<id>", ttl = 60, cache = &self.cache)]
    pub(crate) async fn get_as<T>(&self, id: u64) -> Option<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send,
    {
        let _ = id;
        None
    }

    #[invalidate(self.get_as::<String>(id), cache = &self.cache)]
    pub(crate) async fn forget_as(&self, id: u64) {}

    #[invalidate(keys = ["t:<self.tenant>:user:<id>"], patterns = ["t:<self.tenant>:list:*"], tags = ["user:<id>"], cache = &self.cache)]
    async fn update(&self, id: u64) -> Result<(), AppError> {
        let _ = id;
        Ok(())
    }
}

trait Source {
    fn load(&self, id: u64) -> impl std::future::Future<Output = u64> + Send;
}

struct Numbers;

impl Source for Numbers {
    #[cache(key = "numbers:<id>", ttl = 60, skip(self))]
    async fn load(&self, id: u64) -> u64 {
        id * 2
    }
}

fn main() {
    let repo = Repo {
        cache: Cache::memory(),
        tenant: "acme".into(),
    };
    let _ = (
        parse("1"),
        resilient(1),
        generic(5u8),
        decoded::<String>(1),
        unsized_and_const::<str, 1, false, 'y'>("a"),
        forget_unsized("a"),
        first(&(1, 2), |_| {}),
        count(1),
        hashed(String::new()),
        default_key(1, None),
        repo.get(1),
        repo.default_keyed(1),
        repo.update(1),
        repo.get_as::<u8>(1),
        repo.forget_as(1),
        Numbers.load(1),
    );
}
