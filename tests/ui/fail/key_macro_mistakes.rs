fn main() {
    let user_id = 7u64;
    let _ = redcache::key!(42);
    let _ = redcache::key!("user:<>");
    let _ = redcache::key!("#user:<user_id>");
    let _ = redcache::key!("user:<user_id><user_id>");
    let _ = redcache::key!("user:<usr_id>");
    let _ = redcache::pattern!("user:<user_id>*");
}
