#!/usr/bin/env bash
# The whole benchmark suite, one program after another (each starts its own redis-server on a
# free loopback port, measures its variants side by side in interleaved rounds and prints
# ratios): about 12 minutes on the 2-core machine BENCHMARKS.md describes.
#
#   bash bench/all.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -q -p redcache-bench --bins
run() {
    printf '\n## %s\n\n' "$*"
    "$@"
}
run cargo run --release -q -p redcache-bench                       # Redis hit, throughput, miss, memory hit, breaker, invalidation
run cargo run --release -q -p redcache-bench --bin hit_cost        # in-process hit: allocations, time vs moka
run bash bench/callgrind.sh                                        # instructions per memory, near and moka hit
run cargo run --release -q -p redcache-bench --bin near            # near hit, hot key, propagation, near RSS
run cargo run --release -q -p redcache-bench --bin big_and_rss     # 1 MB value hits, memory-tier RSS
run cargo run --release -q -p redcache-bench --bin batch_and_put   # batches, write-through
run cargo run --release -q -p redcache-bench --bin invalidation    # tag vs pattern at 1M keys
run bash bench/build_time.sh                                       # compile time of 200 annotated functions
