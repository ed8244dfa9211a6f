"""Where a vani server's memory per call goes: ``live_calls.py``'s setup (fakes, server, load
generator), with ``live_memprobe_bot.py`` as the bot. Dumps the server's holdings after the
warm-up call and again late in the window, then prints the difference per call: RSS,
objects by type, frames still queued (the backlog) and, with ``--trace N``, tracemalloc's
allocation sites grouped by traceback.

    python benchmarks/live_memprobe.py --calls 20 --secs 10 --trace 8
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import live_calls as lc  # noqa: E402


def _dump(proc: lc.Proc, out: Path, n: int, timeout: float = 120.0) -> dict[str, Any]:
    os.kill(proc.popen.pid, signal.SIGUSR1)
    path = out / f"{n}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            time.sleep(0.5)
            try:
                data: dict[str, Any] = json.loads(path.read_text())
                return data
            except ValueError:
                continue
        time.sleep(0.2)
    raise RuntimeError("the server wrote no dump")


def _diff(before: list[list[Any]], after: list[list[Any]], calls: int, top: int) -> list[str]:
    b = dict((k, v) for k, v in before)
    rows = [(k, v - b.get(k, 0)) for k, v in after]
    rows.sort(key=lambda r: -r[1])
    return [f"  {k:40s} {d:+8d}  ({d / calls:+.1f} per call)" for k, d in rows[:top] if d]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--secs", type=float, default=10.0)
    ap.add_argument("--ramp-rate", type=float, default=10.0)
    ap.add_argument("--trace", type=int, default=0, help="tracemalloc frames (0: off)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--server-cpus", default=None)
    args = ap.parse_args(argv)

    ncpu = os.cpu_count() or 1
    server_cpus = {ncpu - 1} if args.server_cpus is None else {int(args.server_cpus)}
    client_cpus = set(range(ncpu)) - server_cpus or None
    out = Path(tempfile.mkdtemp(prefix="vani-memprobe-"))
    fakes, urls = lc.start_fakes(client_cpus)
    port = lc._free_port()
    cmd = [
        sys.executable, "-c", "import sys; from vani.cli import main; sys.exit(main())",
        "run", str(HERE / "live_memprobe_bot.py"), "--host", "127.0.0.1", "--port", str(port),
        "--max-calls", "100000",
    ]  # fmt: skip
    env = lc._env(
        {
            "VANI_BENCH_STT_URL": urls["stt"],
            "VANI_BENCH_TTS_URL": urls["tts"],
            "VANI_BENCH_OPENAI_URL": urls["openai"],
            "SARVAM_API_KEY": "test-key",
            "OPENAI_API_KEY": "sk-test",
            "VANI_MEMPROBE_DIR": str(out),
            "VANI_MEMPROBE_FRAMES": str(args.trace),
        }
    )
    server = lc.Proc(cmd, cpus=server_cpus, env=env)
    try:
        lc._wait_healthy(server, port, 60.0)
        target = {"start_url": f"http://127.0.0.1:{port}/start"}
        lc.run_load(target, 1, 1.0, 0.0, client_cpus, 1)
        time.sleep(1.0)
        base = _dump(server, out, 0)
        ramp = args.calls / args.ramp_rate
        load = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "live_load.py"),
                "--start-url",
                target["start_url"],
                "--calls",
                str(args.calls),
                "--secs",
                str(args.secs),
                "--ramp",
                str(ramp),
            ],
            env=lc._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=lc._pin(client_cpus),
        )
        peak = 0
        t0 = time.monotonic()
        timeline: list[str] = []
        deadline = t0 + ramp + 2.0 + 0.8 * args.secs
        while time.monotonic() < deadline:
            rss = lc.tree_rss_kib(server.popen.pid)
            peak = max(peak, rss)
            if len(timeline) < (time.monotonic() - t0) / 5:
                timeline.append(f"{time.monotonic() - t0:.0f}s {rss / 1024:.0f} MiB")
            time.sleep(0.25)
        late = _dump(server, out, 1)
        lines = (load.communicate()[0] or b"").decode().strip().splitlines()
        result = json.loads(lines[-1]) if lines else {}
    finally:
        server.stop()
        fakes.stop()
    n = args.calls
    print(f"calls {n}, connected {n - result.get('calls_failed', 0)}, "
          f"turns answered {result.get('turns_answered')}/{result.get('turns')}, "
          f"lag p99 {result.get('lag_p99_ms')} ms")  # fmt: skip
    print(f"RSS base {base['rss_kib']} KiB, at dump {late['rss_kib']} KiB, peak {peak} KiB: "
          f"{(late['rss_kib'] - base['rss_kib']) / n:.0f} KiB per call at dump, "
          f"{(peak - base['rss_kib']) / n:.0f} KiB per call at peak")  # fmt: skip
    print(f"RSS after malloc_trim(0): base {base['rss_after_trim_kib']} KiB, "
          f"late {late['rss_after_trim_kib']} KiB "
          f"({(late['rss_after_trim_kib'] - base['rss_after_trim_kib']) / n:.0f} KiB per call); "
          f"threads {base['threads']} -> {late['threads']}")  # fmt: skip
    print("RSS timeline:", ", ".join(timeline))
    print(f"gc frozen {base['gc_frozen']} -> {late['gc_frozen']}, threshold {late['gc_threshold']}")
    print(f"gc objects: {(late['gc_objects'] - base['gc_objects']) / n:+.0f} per call")
    new = sorted(set(late["modules"]) - set(base["modules"]))
    print(f"modules imported after the warm-up call: {len(new)}", new[:8])
    print("objects by type (late - base):")
    print("\n".join(_diff(base["types"], late["types"], n, args.top)))
    print("frames alive (late):", late["frames"])
    print("frame audio bytes alive (late):", late["frame_audio_bytes"])
    print("bytearray bytes:", base["bytearray_bytes"], "->", late["bytearray_bytes"])
    print("tasks (late):", late["tasks"])
    print("frames queued per processor class (late):", late["queued"])
    print("what holds a sample of 200 input audio frames (late):", late["audio_holders"])
    if args.trace:
        s0 = tracemalloc.Snapshot.load(str(out / "0.snap"))
        s1 = tracemalloc.Snapshot.load(str(out / "1.snap"))
        print(f"traced: {base.get('traced_kib')} -> {late.get('traced_kib')} KiB")
        for key in ("lineno", "traceback"):
            print(f"top allocation sites by {key} (late - base, per call):")
            for st in s1.compare_to(s0, key)[: args.top]:
                if st.size_diff <= 0:
                    continue
                print(f"  {st.size_diff / 1024 / n:8.1f} KiB/call {st.count_diff / n:+7.1f} blocks")
                frames = st.traceback.format(limit=args.trace if key == "traceback" else 1)
                for line in frames:
                    if line.strip().startswith("File"):
                        print("     ", line.strip()[:160])
    print(f"dumps in {out}")


if __name__ == "__main__":
    main()
