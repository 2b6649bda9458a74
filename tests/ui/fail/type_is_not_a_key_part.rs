use redcache::cache;

struct Filter {
    name: String,
}

#[cache(key = "search:<filter>", ttl = 60)]
async fn search(filter: Filter) -> Vec<String> {
    vec![filter.name]
}

fn main() {}
