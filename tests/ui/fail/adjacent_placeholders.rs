use redcache::cache;

#[cache(key = "pair:<a><b>", ttl = 60)]
async fn pair(a: &str, b: &str) -> String {
    format!("{a}{b}")
}

#[cache(key = "pair:<a>-<b>", ttl = 60)]
async fn dashed(a: &str, b: &str) -> String {
    format!("{a}{b}")
}

fn main() {}
