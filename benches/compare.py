"""nnc against the numpy reference on the workloads of ../shared/bench, side by side.

Runs each workload with nnc (release build) and with `np_impl.py`, alternating, for
ROUNDS rounds (a workload's rounds together, the side that goes first alternating), and
prints the median rates, the nnc/numpy ratio of the medians, the range of the rounds' own
ratios (each round's two runs are back to back: the sitting's spread), both final losses
and nnc's peak RSS. Rates: W1/W2 steps/s, W3/W4 samples/s. numpy times its training loop
only; nnc is timed two ways: its training loop as `nnc run --timing` reports it (the
like-for-like ratio), and the whole process, start-up, .npy loading, fingerprinting and
the final evaluation included (the conservative ratio).

usage: python3 benches/compare.py [--rounds N] [--threads N] [W1 W2 W3 W4]
"""
import argparse
import json
import os
import platform
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
    """(loop rate, whole-process rate, final epoch loss, peak RSS in MB) of one run."""
    spec = os.path.join(ROOT, "benches", "specs", w.lower() + ".nn")
    env = dict(os.environ, NNC_THREADS=str(threads))
    t0 = time.perf_counter()
    p = subprocess.Popen([NNC, "run", spec, "-q", "--timing"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    trace = p.stdout.read()  # standard error holds one line: no risk of a full pipe
    timing = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"nnc failed on {w}: {timing}")
    epochs = [l for l in trace.splitlines() if l.startswith("epoch ")]
    loss = float(re.search(r" loss (\S+)", epochs[-1]).group(1))
    loop = float(re.search(r"training loop (\S+) s", timing).group(1))
    # nnc's own high-water mark (the child's ru_maxrss would include the Python image it
    # was forked from, about 16 MB); the kernel's figure where nnc cannot tell.
    peak = re.search(r"peak RSS (\S+) MB", timing)
    rss = float(peak.group(1)) if peak else usage.ru_maxrss / 1024
    steps, per = WORK[w]
    return steps * per / loop, steps * per / wall, loss, rss


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


def machine():
    """The CPU the sitting ran on, its logical CPUs and its widest vector instructions:
    nnc's gemm and numpy's OpenBLAS both pick kernels for it at run time, and the ratios
    differ between an AVX-512 machine and an AVX2 one."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs"
    name = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", info, re.M)
    flags = set(flags.group(1).split()) if flags else set()
    vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name.group(1) if name else platform.machine()}, {os.cpu_count()} logical CPUs, {vectors}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("workloads", nargs="*", default=["W1", "W2", "W3", "W4"])
    args = ap.parse_args()
    results = {w: {"nnc": [], "whole": [], "numpy": [], "rss": []} for w in args.workloads}

    def nnc(w):
        loop, whole, loss, rss = run_nnc(w, args.threads)
        results[w]["nnc"].append(loop)
        results[w]["whole"].append(whole)
        results[w]["nnc_loss"] = loss
        results[w]["rss"].append(rss)

    def numpy(w):
        rate, loss = run_numpy(w, args.threads)
        results[w]["numpy"].append(rate)
        results[w]["numpy_loss"] = loss

    # A workload's rounds run together, the two sides taking turns to go first: a run is
    # slower right after a heavy one (nnc's W1, 5 ms long, ran at a median 1.46M steps/s
    # after numpy's W4 and 1.94M after numpy's W1, 6 runs each), so neither side always
    # follows the other, nor a different workload.
    for w in args.workloads:
        for r in range(args.rounds):
            for side in (nnc, numpy) if r % 2 == 0 else (numpy, nnc):
                side(w)
        print(f"{w}: {args.rounds} rounds done", file=sys.stderr)
    peak = numpy_matmul_peak(args.threads)
    unit = {"W1": "steps/s", "W2": "steps/s", "W3": "samples/s", "W4": "samples/s"}
    print(f"machine: {machine()}")
    print(f"{'workload':8} {'unit':9} {'nnc loop':>10} {'numpy':>10} {'ratio':>6} {'rounds':>11} {'nnc whole':>10} "
          f"{'ratio':>6} {'nnc loss':>12} {'numpy loss':>12} {'GFLOP/s':>8}")
    for w in args.workloads:
        a, b = statistics.median(results[w]["nnc"]), statistics.median(results[w]["numpy"])
        whole = statistics.median(results[w]["whole"])
        per_round = [x / y for x, y in zip(results[w]["nnc"], results[w]["numpy"])]
        spread = f"{min(per_round):.2f}-{max(per_round):.2f}"
        gflops = f"{a * FLOPS[w] / 1e9:.1f}" if w in FLOPS else "-"
        print(f"{w:8} {unit[w]:9} {a:10.0f} {b:10.0f} {a / b:6.2f} {spread:>11} {whole:10.0f} {whole / b:6.2f} "
              f"{results[w]['nnc_loss']:12.6g} {results[w]['numpy_loss']:12.6g} {gflops:>8}")
    # Every round's peak, lowest to highest: W4's varies from run to run (its budget is
    # 39.6 MB), and the highest is the one to compare with a budget.
    rss = {w: f"{min(results[w]['rss']):.1f}-{max(results[w]['rss']):.1f}" for w in args.workloads}
    print("nnc peak RSS (MB), every round: " + ", ".join(f"{w} {rss[w]}" for w in args.workloads))
    print(f"numpy float32 matmul peak (2048^3, {args.threads} threads, best of 5): {peak:.0f} GFLOP/s; "
          "nnc's matmul rate per product: `nnc profile benches/specs/w4.nn`")


if __name__ == "__main__":
    main()

