"""Fail when vani got slower than a base: the same pytest-benchmark groups, both trees, one run.

    python benchmarks/regress.py --base main            # before a merge: this tree vs main
    python benchmarks/regress.py --base v0.1.0 --threshold 0.05
    python benchmarks/regress.py --base dist/vani-0.1.0-....whl   # a wheel you have
    python benchmarks/regress.py --base "vani==0.1.0"              # an installed release

The base is built into a wheel (``git worktree`` + ``pip wheel``, cached per commit) and
installed into a second venv that sees this environment's other packages, so only vani differs.
This side is whatever ``import vani`` gives this interpreter (the checkout with ``PYTHONPATH=.``,
or the installed wheel). Both run the benchmark files of THIS tree, interleaved: round 1 base
then this, round 2 this then base, and so on, so drift in the machine's speed hits both. Each
benchmark's figure is the best over rounds of its per-run median: one process of the same
compiled code can be 20-30 % slower than another (where its buffers landed), which is not a
regression, while a real slowdown slows every process. A benchmark whose ratio
(this / base) exceeds ``1 + threshold`` fails the run (exit 1), and the table says which.

Benchmarks of other implementations in the same groups (numpy, soxr, audioop) run unchanged on
both sides: their ratios show the run's noise and never fail it. Each sample times at least
0.5 ms of calls, so sub-microsecond operations are not lost in the timer's resolution. Guide:
docs/embedding.md ("Performance regressions").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Benchmarks of other implementations (their ratios are the run's noise; they never fail it).
REFERENCE = ("numpy", "audioop", "soxr", "pipecat")
DEFAULT_FILES = ["bench_audio.py", "bench_resample.py", "bench_serializers.py", "bench_spine.py"]
CACHE = Path(os.environ.get("VANI_REGRESS_CACHE", Path.home() / ".cache" / "vani-regress"))


def sh(*cmd: str, cwd: Path | None = None) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def build_base(base: str) -> Path:
    """A venv with the base's vani in it (and this environment's other packages); its Python."""
    if base.endswith(".whl") or base.startswith("vani=="):
        key = Path(base).name if base.endswith(".whl") else base.replace("=", "-")
    else:
        key = sh("git", "rev-parse", "--verify", f"{base}^{{commit}}", cwd=ROOT)
    venv = CACHE / key / "venv"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    shutil.rmtree(venv.parent, ignore_errors=True)
    venv.parent.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # This environment's packages, after the venv's own: only vani comes from the base.
    purelib = sh(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    ours = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    Path(purelib, "_vani_regress_parent.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    if base.startswith("vani=="):
        target = base
    elif base.endswith(".whl"):
        target = str(Path(base).resolve())
    else:
        tree = venv.parent / "src"
        sh("git", "worktree", "add", "--detach", str(tree), key, cwd=ROOT)
        try:
            print(f"building {base} ({key[:12]}) ...", flush=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                 "-w", str(venv.parent / "wheel"), str(tree)],
                check=True,
            )  # fmt: skip
        finally:
            sh("git", "worktree", "remove", "--force", str(tree), cwd=ROOT)
        target = str(next((venv.parent / "wheel").glob("vani-*.whl")))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", target], check=True)
    return python


def run_once(python: str, files: list[str], select: str | None, out: Path) -> dict[str, float]:
    cmd = [
        python, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        *[str(ROOT / "benchmarks" / f) for f in files], "-q", "--benchmark-only",
        "--benchmark-min-time=0.0005", "--benchmark-max-time=0.5",
        "--benchmark-min-rounds=15", f"--benchmark-json={out}",
    ]  # fmt: skip
    if select:
        cmd += ["-k", select]
    # From an empty folder: the base's Python must not find this checkout's vani on its path.
    env = dict(os.environ)
    if python != sys.executable:
        env.pop("PYTHONPATH", None)
    subprocess.run(cmd, cwd=out.parent, env=env, check=True, stdout=subprocess.DEVNULL)
    data = json.loads(out.read_text())
    return {
        f"{b['group'] or '-'} :: {b['name']}": float(b["stats"]["median"])
        for b in data["benchmarks"]
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base", required=True, help="a git ref, a wheel file, or vani==VERSION")
    ap.add_argument("--threshold", type=float, default=0.10, help="allowed slowdown (0.10: 10%%)")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved runs per side")
    ap.add_argument("--files", nargs="*", default=DEFAULT_FILES, help="benchmarks/ files")
    ap.add_argument("-k", dest="select", help="pytest -k expression to pick benchmarks")
    args = ap.parse_args(argv)
    base_python = str(build_base(args.base))
    sides = {"base": base_python, "this": sys.executable}
    runs: dict[str, dict[str, list[float]]] = {"base": {}, "this": {}}
    with tempfile.TemporaryDirectory(prefix="vani-regress-") as tmp:
        for r in range(args.rounds):
            order = ["base", "this"] if r % 2 == 0 else ["this", "base"]
            for side in order:
                print(f"round {r + 1}/{args.rounds}: {side}", flush=True)
                out = Path(tmp) / f"{side}-{r}.json"
                for name, median in run_once(sides[side], args.files, args.select, out).items():
                    runs[side].setdefault(name, []).append(median)
    failed = []
    print(f"\n{'benchmark':80} {'base µs':>10} {'this µs':>10} {'ratio':>7}")
    for name in sorted(runs["this"]):
        if name not in runs["base"]:
            print(f"{name[:80]:80} {'-':>10} {'new':>10}")
            continue
        b = min(runs["base"][name]) * 1e6
        t = min(runs["this"][name]) * 1e6
        ratio = t / b
        reference = any(word in name.split(" :: ")[-1] for word in REFERENCE)
        flag = ""
        if ratio > 1 + args.threshold:
            flag = " (reference: noise)" if reference else " SLOWER"
            if not reference:
                failed.append(name)
        print(f"{name[:80]:80} {b:10.2f} {t:10.2f} {ratio:7.3f}{flag}")
    if failed:
        print(f"\n{len(failed)} benchmark(s) slower than {args.base} by more than "
              f"{args.threshold:.0%}: " + "; ".join(failed))  # fmt: skip
        return 1
    print(f"\nno benchmark slower than {args.base} by more than {args.threshold:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
