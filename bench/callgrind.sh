#!/usr/bin/env bash
# Instructions per in-process hit under callgrind, for `#[cache]` on the memory store, for a
# near-cache hit (`#[cache]` on Redis with `near_cache`; the loop starts its own redis-server)
# and for a hand-written moka get + clone: each loop runs twice (N and 3N hits) and the
# difference is divided by 2N, so start-up and warm-up cancel out. Counts are stable on a
# noisy machine.
#
#   bash bench/callgrind.sh [N]      (default 100000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
cargo build --release -q -p redcache-bench --bin hit_cost
bin="$root/target/release/hit_cost"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" loop "$1" "$2" >/dev/null 2>"$out/log"
    grep -E '^summary:' "$out/cg" | awk '{print $2}'
}
printf '| loop | instructions per hit |\n|---|---|\n'
for kind in moka memory near; do
    small=$(instructions "$kind" "$n")
    large=$(instructions "$kind" $((3 * n)))
    printf '| %s | %s |\n' "$kind" $(( (large - small) / (2 * n) ))
done
