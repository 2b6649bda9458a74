use redcache::cache;

#[cache(key = "item:<id>", ttl = 60)]
async fn item<T: std::fmt::Display>(id: T) -> String {
    id.to_string()
}

fn main() {}
