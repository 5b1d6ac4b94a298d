#!/usr/bin/env bash
# nnc against the numpy reference of ../shared/bench, alternating, median of N rounds.
# usage: benches/compare.sh [--rounds N] [--threads N] [W1 W2 W3 W4]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet numpy threadpoolctl
cargo build --release --locked --quiet
[ -f benches/data/W4_x.npy ] || python3 ../shared/bench/common.py dump benches/data
exec python3 benches/compare.py "$@"
