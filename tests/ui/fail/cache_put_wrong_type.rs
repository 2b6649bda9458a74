use redcache::{cache, cache_put};

#[derive(serde::Serialize, serde::Deserialize)]
struct User;
#[derive(serde::Serialize, serde::Deserialize)]
struct Account;

#[cache(key = "user:<id>", ttl = 60)]
async fn get_user(id: u64) -> Result<User, String> {
    let _ = id;
    Ok(User)
}

// The value written must be the one `get_user` stores: `User`, not `Account`.
#[cache_put(get_user(id))]
async fn save_account(id: u64) -> Result<Account, String> {
    let _ = id;
    Ok(Account)
}

fn main() {}
