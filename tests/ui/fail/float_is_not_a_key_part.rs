use redcache::cache;

#[cache(key = "price:<amount>", ttl = 60)]
async fn price(amount: f64) -> String {
    format!("{amount}")
}

fn main() {}
