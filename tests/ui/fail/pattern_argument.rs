use redcache::cache;

#[cache(key = "point", ttl = 60)]
async fn norm((x, y): (i64, i64)) -> i64 {
    x * x + y * y
}

fn main() {}
