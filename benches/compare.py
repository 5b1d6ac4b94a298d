"""nnc against the numpy reference on the workloads of ../shared/bench, side by side.

Runs each workload with nnc (release build) and with `np_impl.py`, alternating, for
ROUNDS rounds, and prints the median rate of each, the nnc/numpy ratio, both final
losses and nnc's peak RSS. Rates: W1/W2 steps/s, W3/W4 samples/s. nnc is timed as the
whole process (start-up and loading the .npy files included); numpy times its training
loop only, so the ratios are conservative for nnc.

usage: python3 benches/compare.py [--rounds N] [--threads N] [W1 W2 W3 W4]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "..", "shared", "bench")
NNC = os.path.join(ROOT, "target", "release", "nnc")
# Work per run: (steps, samples per step) as the reference counts them.
WORK = {"W1": (10_000, 1), "W2": (1_000, 1), "W3": (3 * 64, 128), "W4": (2 * 8, 256)}
FLOPS = {"W3": 1_007_104, "W4": 10_547_200}


def run_nnc(w, threads):
    spec = os.path.join(ROOT, "benches", "specs", w.lower() + ".nn")
    trace = os.path.join(ROOT, "target", f"bench_{w}.trace")
    env = dict(os.environ, NNC_THREADS=str(threads))
    t0 = time.perf_counter()
    p = subprocess.Popen([NNC, "run", spec, "-q", "-o", trace], env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"nnc failed on {w}")
    epochs = [l for l in open(trace) if l.startswith("epoch ")]
    loss = float(re.search(r" loss (\S+)", epochs[-1]).group(1))
    steps, per = WORK[w]
    return steps * per / wall, loss, usage.ru_maxrss / 1024


def run_numpy(w, threads):
    out = subprocess.run([sys.executable, os.path.join(BENCH, "np_impl.py"), w, "--threads", str(threads)],
                         capture_output=True, text=True, check=True, cwd=BENCH)
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    steps, per = WORK[w]
    return steps * per / rec["wall_s"], rec["final_loss"]


def numpy_matmul_peak(threads):
    """numpy's float32 matmul rate (GFLOP/s) on 2048x2048 products, best of 5."""
    code = (
        "import time, numpy as np\n"
        "from threadpoolctl import threadpool_limits\n"
        "a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)\n"
        "b = a.copy(); best = 0.0\n"
        f"with threadpool_limits({threads}):\n"
        "    a @ b\n"
        "    for _ in range(5):\n"
        "        t = time.perf_counter(); a @ b; best = max(best, 2 * 2048**3 / (time.perf_counter() - t) / 1e9)\n"
        "print(best)\n"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("workloads", nargs="*", default=["W1", "W2", "W3", "W4"])
    args = ap.parse_args()
    results = {w: {"nnc": [], "numpy": []} for w in args.workloads}
    for r in range(args.rounds):
        for w in args.workloads:
            rate, loss, rss = run_nnc(w, args.threads)
            results[w]["nnc"].append(rate)
            results[w]["nnc_loss"], results[w]["rss"] = loss, rss
            rate, loss = run_numpy(w, args.threads)
            results[w]["numpy"].append(rate)
            results[w]["numpy_loss"] = loss
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
    peak = numpy_matmul_peak(args.threads)
    unit = {"W1": "steps/s", "W2": "steps/s", "W3": "samples/s", "W4": "samples/s"}
    print(f"{'workload':8} {'unit':9} {'nnc':>12} {'numpy':>12} {'ratio':>7} {'nnc loss':>13} {'numpy loss':>13} "
          f"{'nnc GFLOP/s':>11} {'nnc RSS MB':>10}")
    for w in args.workloads:
        a, b = statistics.median(results[w]["nnc"]), statistics.median(results[w]["numpy"])
        gflops = f"{a * FLOPS[w] / 1e9:.1f}" if w in FLOPS else "-"
        print(f"{w:8} {unit[w]:9} {a:12.0f} {b:12.0f} {a / b:7.2f} {results[w]['nnc_loss']:13.6g} "
              f"{results[w]['numpy_loss']:13.6g} {gflops:>11} {results[w]['rss']:10.1f}")
    print(f"numpy float32 matmul peak (2048^3, {args.threads} threads, best of 5): {peak:.0f} GFLOP/s; "
          "nnc's matmul rate per product: `nnc profile benches/specs/w4.nn`")


if __name__ == "__main__":
    main()

