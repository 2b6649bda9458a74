#!/usr/bin/env bash
# Compile-time cost of the macro: a crate with 200 #[cache] functions vs the same 200
# functions written by hand against the runtime (what the macro expands each function to: its
# call site, the key built on the stack, the codec, get_or_compute; without the hidden
# companion `__redcache_entry_of_*` the macro also emits for typed invalidation). Both share
# one target dir, so dependencies build once; then each crate is rebuilt alternately
# (touching its lib.rs) and the medians are compared.
#
#   bash bench/build_time.sh [runs]      (default 5 runs each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/target/build-time"
runs=${1:-5}
functions=200
rm -rf "$work/annotated" "$work/handwritten"
mkdir -p "$work/annotated/src" "$work/handwritten/src"

for kind in annotated handwritten; do
    cat > "$work/$kind/Cargo.toml" <<TOML
[package]
name = "build-time-$kind"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
redcache = { path = "$root" }
serde = { version = "1", features = ["derive"] }
TOML
    {
        echo 'use serde::{Deserialize, Serialize};'
        echo '#[derive(Clone, Serialize, Deserialize)] pub struct Row { pub id: u64, pub name: String }'
    } > "$work/$kind/src/lib.rs"
done

for i in $(seq 1 $functions); do
    cat >> "$work/annotated/src/lib.rs" <<RS
#[redcache::cache(key = "row$i:<id>", ttl = 60)]
pub async fn row$i(id: u64) -> Result<Row, String> {
    Ok(Row { id, name: String::from("row$i") })
}
RS
    cat >> "$work/handwritten/src/lib.rs" <<RS
pub async fn row$i(id: u64) -> Result<Row, String> {
    use redcache::__private as rc;
    #[allow(unused_imports)]
    use rc::{NotClone as _, ViaClone as _};
    static SITE: rc::CallSite = rc::CallSite::new(concat!(module_path!(), "::row$i"));
    let cache = rc::global();
    let mut key = rc::key_writer(cache, 16);
    rc::push_literal(&mut key, "row$i:");
    rc::push_part(&mut key, rc::key_part(&id));
    let copies = (&rc::Probe::<Row>::new()).copies();
    let codec = rc::json_codec::<Row>().with_copies(copies);
    rc::get_or_compute::<rc::OkOnly, _>(cache, rc::built_key(key), Vec::new(), rc::CallOptions::new(60_000).function(&SITE), codec, async move {
        Ok(Row { id, name: String::from("row$i") })
    })
    .await
}
RS
done

export CARGO_TARGET_DIR="$work/target"
for kind in annotated handwritten; do
    cargo build -q --manifest-path "$work/$kind/Cargo.toml"
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
declare -A times
for run in $(seq 1 "$runs"); do
    for kind in annotated handwritten; do
        touch "$work/$kind/src/lib.rs"
        start=$(date +%s.%N)
        cargo build -q --manifest-path "$work/$kind/Cargo.toml"
        end=$(date +%s.%N)
        times[$kind]+="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') "
    done
done
annotated=$(echo "${times[annotated]}" | tr ' ' '\n' | grep . | median)
handwritten=$(echo "${times[handwritten]}" | tr ' ' '\n' | grep . | median)
echo "rebuild of a crate with $functions cached functions (debug, median of $runs alternating runs)"
echo "  #[cache]:     ${annotated}s   (runs: ${times[annotated]})"
echo "  hand-written: ${handwritten}s   (runs: ${times[handwritten]})"
echo "  ratio:        $(awk -v a="$annotated" -v b="$handwritten" 'BEGIN { printf "%.3f", a / b }')"
