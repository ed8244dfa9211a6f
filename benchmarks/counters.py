"""Deterministic performance counters: instructions per core operation, retained allocations.

    python benchmarks/counters.py              # measure, compare with the baseline, gate
    python benchmarks/counters.py --update --reason "why the counts moved"

Timings are noisy on shared machines; instruction counts are not. Each operation of
benchmarks/counter_ops.py runs twice under ``valgrind --tool=cachegrind`` (Debian's valgrind),
with two repeat counts; the difference of the two instruction totals divided by the difference
of the counts is the operation's instructions, free of start-up, imports and set-up. Python
allocations are counted with tracemalloc: memory blocks the steady state still holds after many
more operations, per operation (0 for a path that keeps nothing).

The baseline (benchmarks/counters_baseline.json) records the counts and what they depend on: CPU
vendor and SIMD level as numpy and onnxruntime see them (under valgrind), Python and library
versions. On a machine that matches it, the run fails (exit 1) when an operation's count grew
by more than 3 % or an operation that kept no memory starts to, and names each; on one that does
not match, it prints the counts and a warning and passes. Raising the baseline is a deliberate
commit (``--update --reason``). Guide: docs/embedding.md ("Performance regressions").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPS_SCRIPT = HERE / "counter_ops.py"
BASELINE = HERE / "counters_baseline.json"
GROWTH = 0.03  # an operation may cost 3 % more instructions before the gate fails
ALLOC_LIMIT = 0.05  # retained blocks per operation that count as "allocates" (noise: ~0.003)
# Repeat counts (low, high) per operation; the VAD op runs a batch of 16 windows per repeat.
REPEATS = {"frame_10_processors": (100, 600), "vad_window_batched": (2, 8)}
DEFAULT_REPEATS = (200, 1200)
OPS = [
    "frame_10_processors",
    "vad_window_batched",
    "resample_20ms",
    "g711_encode",
    "g711_decode",
    "protobuf_audio_in",
    "protobuf_audio_out",
    "rtvi_message_in",
    "rtvi_message_out",
]
PER_UNIT = {"vad_window_batched": 16}

_FINGERPRINT = r"""
import json, sys, platform, numpy, onnxruntime
try:
    from numpy._core._multiarray_umath import __cpu_features__ as f
except ImportError:
    from numpy.core._multiarray_umath import __cpu_features__ as f
levels = ["AVX512_SKX", "AVX512F", "AVX2", "AVX", "SSE42", "SSE41", "ASIMD", "NEON"]
simd = next((lv for lv in levels if f.get(lv)), "none")
providers = onnxruntime.get_available_providers()
print(json.dumps({"numpy_simd": simd, "onnxruntime_providers": providers}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    # numpy's BLAS starts worker threads that spin for a while: their instructions vary from
    # run to run (measured: up to 3x on the resampler op). One thread: the counts repeat exactly.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


def _valgrind(args: list[str]) -> tuple[int, str]:
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    done = subprocess.run(
        [*cmd, sys.executable, *args], capture_output=True, text=True, env=_env(), check=False
    )
    match = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode or not match:
        raise RuntimeError(f"cachegrind run failed: {args}\n{done.stderr[-2000:]}")
    return int(match.group(1).replace(",", "")), done.stdout


def instructions(op: str) -> float:
    low, high = REPEATS.get(op, DEFAULT_REPEATS)
    a, _ = _valgrind([str(OPS_SCRIPT), op, str(low)])
    b, _ = _valgrind([str(OPS_SCRIPT), op, str(high)])
    return (b - a) / (high - low) / PER_UNIT.get(op, 1)


def retained(op: str) -> float:
    done = subprocess.run(
        [sys.executable, str(OPS_SCRIPT), "--alloc", op],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def fingerprint() -> dict[str, object]:
    vendor = "unknown"
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("vendor_id") and vendor == "unknown":
                vendor = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    host_simd = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), "none")
    _, out = _valgrind(["-c", _FINGERPRINT])
    seen = json.loads(out.strip().splitlines()[-1])
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout
    return {
        "cpu_vendor": vendor,
        "host_simd": host_simd,
        "numpy_simd_under_valgrind": seen["numpy_simd"],
        "onnxruntime_providers": seen["onnxruntime_providers"],
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "onnxruntime": _version("onnxruntime"),
        "protobuf": _version("protobuf"),
        "vani": _version("vani"),
        "valgrind": valgrind.strip(),
    }


# What must match for the counts to be comparable (vani's own version is not: it is what moves).
MATCH_KEYS = [
    "cpu_vendor",
    "host_simd",
    "numpy_simd_under_valgrind",
    "machine",
    "python",
    "numpy",
    "onnxruntime",
    "protobuf",
    "valgrind",
]


def measure(jobs: int) -> dict[str, dict[str, float]]:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        counts = dict(zip(OPS, pool.map(instructions, OPS), strict=True))
    allocs = {op: retained(op) for op in OPS}
    return {op: {"instructions": counts[op], "retained_blocks": allocs[op]} for op in OPS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--update", action="store_true", help="write the baseline from this run")
    ap.add_argument("--reason", help="why the baseline moves (required with --update)")
    ap.add_argument("--jobs", type=int, default=2, help="cachegrind runs at once")
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind); counters not measured")
        return 2
    if args.update and not args.reason:
        ap.error("--update needs --reason: raising a baseline is a deliberate, explained change")
    env = fingerprint()
    ops = measure(args.jobs)
    if args.update:
        data = {"reason": args.reason, "environment": env, "operations": ops}
        args.baseline.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.baseline}")
    base = json.loads(args.baseline.read_text()) if args.baseline.exists() else None
    mismatch = (
        ["no baseline"]
        if base is None
        else [
            f"{k}: {base['environment'].get(k)!r} here {env.get(k)!r}"
            for k in MATCH_KEYS
            if base["environment"].get(k) != env.get(k)
        ]
    )
    failures = []
    print(f"{'operation':24} {'instructions':>14} {'baseline':>14} {'change':>8} {'retained':>9}")
    for op, now in ops.items():
        was = (base or {}).get("operations", {}).get(op)
        change = ""
        if was:
            growth = now["instructions"] / was["instructions"] - 1
            change = f"{growth:+.1%}"
            if growth > GROWTH:
                failures.append(f"{op}: {growth:+.1%} instructions (limit +{GROWTH:.0%})")
            if now["retained_blocks"] > ALLOC_LIMIT >= was["retained_blocks"]:
                failures.append(
                    f"{op}: now keeps {now['retained_blocks']:.3f} memory blocks per operation"
                )
        base_ir = f"{was['instructions']:14.0f}" if was else f"{'-':>14}"
        print(
            f"{op:24} {now['instructions']:14.0f} {base_ir} {change:>8}"
            f" {now['retained_blocks']:9.3f}"
        )
    if mismatch:
        print("warning: this machine does not match the baseline's, so nothing is gated:")
        for line in mismatch:
            print(f"  {line}")
        for line in failures:
            print(f"  (would fail) {line}")
        return 0
    if failures:
        print("FAILED: counters grew beyond the baseline:")
        for line in failures:
            print(f"  {line}")
        return 1
    print("counters within the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
