#!/usr/bin/env bash
# Fuzzing: builds the cargo-fuzz targets in fuzz/ (nightly toolchain, libFuzzer, AddressSanitizer,
# debug assertions and overflow checks) and runs each for FUZZ_SECONDS (default 30), one after
# the other. Any crash, failed property, timeout or out-of-memory fails the script; libFuzzer
# leaves the input in fuzz/artifacts/<target>/ and prints how to reproduce it.
#
#   FUZZ_SECONDS=600 bash .ci/fuzz.sh          # every target, ten minutes each
#   FUZZ_TARGETS="jwt email" bash .ci/fuzz.sh  # some targets only
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
started=$(date +%s)

step() { printf '\n==> %s\n' "$*"; }

step "fuzz tools"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "the nightly toolchain is missing (cargo-fuzz needs it for the sanitizer and libFuzzer flags)"
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"

step "fuzz build"
cargo +nightly fuzz build

for target in $targets; do
  step "fuzz $target (${FUZZ_SECONDS}s)"
  # New inputs go to fuzz/corpus/<target> (not committed); fuzz/seeds/<target> is the committed
  # starting point. A malformed-input timeout counts as a failure too (-timeout, seconds).
  mkdir -p "fuzz/corpus/$target"
  corpora=("fuzz/corpus/$target")
  [ -d "fuzz/seeds/$target" ] && corpora+=("fuzz/seeds/$target")
  cargo +nightly fuzz run "$target" "${corpora[@]}" -- \
    -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done

step "fuzzing passed in $(( $(date +%s) - started ))s"
