"""Whole live calls over WebSocket, vani against Pipecat 1.14: same bot, same fakes, one run.

    python benchmarks/live_calls.py                       # full: search N, RSS, latency; both
    python benchmarks/live_calls.py --quick               # CI: a few short calls each
    python benchmarks/live_calls.py --only vani --calls 150 --secs 30   # one run, one size
    python benchmarks/live_calls.py --workers 2           # also N workers on N cores
    python benchmarks/live_calls.py --only vani --workers 2 --cpu-share 0.3  # small machine

Three kinds of process, so that each one's cost lands where it belongs:

1. the fakes (``live_fakes.py``): ``vani.testing``'s Sarvam STT, Sarvam TTS and OpenAI servers on
   127.0.0.1 at zero latency;
2. the server under test, pinned to one core (``os.sched_setaffinity``; ``--workers W``: W
   cores): ``vani run benchmarks/live_vani_bot.py`` or Pipecat's same pipeline
   (``live_pipecat_bot.py`` under ``$VANI_PIPECAT_PYTHON``): WebSocket transport + protobuf
   serializer + Silero VAD + Sarvam STT + OpenAI LLM + Sarvam TTS, pointed at the fakes;
3. the load generator (``live_load.py``): N callers streaming 20 ms frames of real speech in
   real time over Pipecat's protobuf framing, timing everything on its own clock.

The fakes and the load generator share the cores the server does not use. Each measured run
gets a fresh server; one warm-up call runs first and the server's RSS after it is the baseline.

Figures (``benchmarks/README.md`` explains each): the largest N whose p99 output lag stays under
100 ms with no gap and every turn answered (a search, unless ``--calls`` or ``--no-search``);
RSS per call at N = 100; framework time from the server's ``user-stopped-speaking`` to the
first bot audio frame on the client's socket at N = 5 (and, for reference, the caller's real
end of speech to that frame, which includes the VAD's stop delay and the turn strategy's wait);
server CPU per call. Calls ramp in at ``--ramp-rate`` a second and are measured for ``--secs``
once all are in.
Prints a table and one JSON line; ``--json PATH`` writes the JSON too.

Worker scaling needs cores beyond the server's for the fakes and the load generator (together
about half the server's CPU per call). Where there are none (2 cores), ``--cpu-share F`` caps
every process that serves calls (the server, or each of its W workers) at F of a core with a
cgroup CPU quota (10 ms period) and pins each to a core of its own; the fakes and the load
generator may then use what is left of every core. One worker at F is then compared with W
workers at F each, on W cores. Linux, as root, with the cgroup ``cpu`` controller writable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import live_load  # noqa: E402
from live_report import table  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
RSS_CALLS = 100


# -- processes ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(parents.get(p, []))
    return tree


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (KiB)."""
    total = 0
    for p in _children(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def tree_cpu_secs(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its live descendants."""
    total = 0
    for p in _children(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def tree_wait_secs(pid: int) -> float:
    """Time the threads of a process tree spent runnable but waiting for a CPU (schedstat):
    when it is large the machine, not the program, held the server back."""
    total = 0
    for p in _children(pid):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                total += int(Path(f"/proc/{p}/task/{task}/schedstat").read_text().split()[1])
    return total / 1e9


NICE = 0
"""Niceness of every process the benchmark starts (``--nice``; negative needs privileges)."""


class CpuShare:
    """Caps processes at a fraction of a core (a cgroup CPU quota each) and pins each to a core
    (``--cpu-share``). cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us``)."""

    PERIOD_US = 10_000  # short: a capped server is held back at most ~10 ms at a time

    def __init__(self, share: float) -> None:
        if not 0.0 < share <= 1.0:
            raise SystemExit(f"--cpu-share: expected a fraction of a core in (0, 1], got {share}")
        self.share = share
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        if v2.exists() and "cpu" in v2.read_text().split():
            self.root, self.v2 = Path("/sys/fs/cgroup"), True
        elif Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists():
            self.root, self.v2 = Path("/sys/fs/cgroup/cpu"), False
        else:
            raise SystemExit("--cpu-share: needs the cgroup cpu controller (none found)")
        self.groups: list[Path] = []

    def cap(self, pid: int, core: int) -> None:
        """Move ``pid`` (every thread) into a capped group of its own, pinned to ``core``."""
        group = self.root / f"vani-bench-{os.getpid()}-{pid}"
        quota = max(1000, int(self.PERIOD_US * self.share))
        try:
            group.mkdir(exist_ok=True)
            self.groups.append(group)
            if self.v2:
                (group / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
            else:
                (group / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            (group / "cgroup.procs").write_text(str(pid))
        except OSError as exc:
            raise SystemExit(
                f"--cpu-share: cannot set a cgroup quota ({exc}); run as root"
            ) from exc
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                os.sched_setaffinity(int(task), {core})

    def throttled(self) -> int:
        """Quota periods in which a capped process was held back, over every group so far."""
        total = 0
        for group in self.groups:
            with contextlib.suppress(OSError):
                for line in (group / "cpu.stat").read_text().splitlines():
                    if line.startswith("nr_throttled "):
                        total += int(line.split()[1])
        return total

    def release(self) -> None:
        """Remove the groups (their processes have exited)."""
        for group in self.groups:
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # a process still leaving
                    time.sleep(0.1)
        self.groups.clear()


def _serving_pids(server: int, workers: int, timeout: float = 20.0) -> list[int]:
    """The processes that serve calls: the server itself, or its ``workers`` forked workers
    (children with the server's own command line)."""
    if workers == 1:
        return [server]
    cmdline = Path(f"/proc/{server}/cmdline").read_bytes()
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for pid in _children(server):
            with contextlib.suppress(OSError):
                if pid != server and Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline:
                    found.append(pid)
        if len(found) >= workers or time.monotonic() > deadline:
            if len(found) < workers:
                raise RuntimeError(f"expected {workers} workers, found {len(found)}")
            return sorted(found)[:workers]
        time.sleep(0.1)


def _pin(cpus: set[int] | None) -> Callable[[], None] | None:
    if not cpus and not NICE:
        return None

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        if NICE:
            os.nice(NICE)

    return pin


class Proc:
    """A child process whose output goes to a file (never an unread pipe)."""

    def __init__(
        self, cmd: list[str], *, cpus: set[int] | None, env: dict[str, str] | None = None
    ) -> None:
        self.log = tempfile.NamedTemporaryFile("w+", prefix="live_calls_", suffix=".log")  # noqa: SIM115
        self.cmd = cmd
        self.popen = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            preexec_fn=_pin(cpus),
        )

    def tail(self, chars: int = 1500) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-chars:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self.log.close()


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Children import the vani this process imported (source tree or installed wheel)."""
    import vani

    root = str(Path(vani.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
    env.update(extra or {})
    return env


def start_fakes(cpus: set[int] | None) -> tuple[Proc, dict[str, str]]:
    proc = Proc([sys.executable, str(HERE / "live_fakes.py")], cpus=cpus, env=_env())
    assert proc.popen.stdout is not None
    line = proc.popen.stdout.readline()
    if not line:
        proc.stop()
        raise RuntimeError(f"the fakes did not start:\n{proc.tail()}")
    urls: dict[str, str] = json.loads(line)
    return proc, urls


def pipecat_python() -> str | None:
    path = os.environ.get("VANI_PIPECAT_PYTHON")
    if path and Path(path).exists():
        return path
    return None


def _wait_healthy(proc: Proc, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"server exited ({proc.popen.returncode}):\n{proc.tail()}")
        url = f"http://127.0.0.1:{port}/health"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {timeout:.0f} s:\n{proc.tail()}")


def start_server(
    framework: str, urls: dict[str, str], cpus: set[int] | None, workers: int
) -> tuple[Proc, dict[str, str]]:
    """Start the server under test; returns it and the load generator's target arguments."""
    port = _free_port()
    if framework == "pipecat":
        python = pipecat_python()
        if python is None:
            raise RuntimeError("set VANI_PIPECAT_PYTHON to a Python with pipecat-ai 1.14")
        cmd = [
            python, str(HERE / "live_pipecat_bot.py"), "--port", str(port),
            "--stt", urls["stt"], "--tts", urls["tts"], "--openai", urls["openai"],
        ]  # fmt: skip
        proc = Proc(cmd, cpus=cpus, env=dict(os.environ, PYTHONPATH=""))
        target = {"ws_url": f"ws://127.0.0.1:{port}/ws"}
    else:
        cmd = [
            sys.executable, "-c", "import sys; from vani.cli import main; sys.exit(main())",
            "run", str(HERE / "live_vani_bot.py"), "--host", "127.0.0.1", "--port", str(port),
            "--max-calls", "100000", "--workers", str(workers),
        ]  # fmt: skip
        env = _env(
            {
                "VANI_BENCH_STT_URL": urls["stt"],
                "VANI_BENCH_TTS_URL": urls["tts"],
                "VANI_BENCH_OPENAI_URL": urls["openai"],
                "SARVAM_API_KEY": "test-key",
                "OPENAI_API_KEY": "sk-test",
            }
        )
        proc = Proc(cmd, cpus=cpus, env=env)
        target = {"start_url": f"http://127.0.0.1:{port}/start"}
    try:
        _wait_healthy(proc, port, 60.0)
    except Exception:
        proc.stop()
        raise
    return proc, target


def run_load(
    target: dict[str, str],
    calls: int,
    secs: float,
    ramp: float,
    cpus: set[int] | None,
    loadgens: int,
) -> tuple[dict[str, Any], tuple[float, float]]:
    """Run the load generator(s): the merged results and the measurement window (monotonic
    seconds of this process: the latest start and the earliest end among the generators)."""
    cmd_base = [sys.executable, str(HERE / "live_load.py"), "--samples"]
    cmd_base += ["--secs", str(secs), "--ramp", str(ramp)]
    cmd_base += ["--expected-reply-secs", str(EXPECTED_REPLY_SECS)]
    if "ws_url" in target:
        cmd_base += ["--ws-url", target["ws_url"]]
    else:
        cmd_base += ["--start-url", target["start_url"]]
    shares = [calls // loadgens + (1 if i < calls % loadgens else 0) for i in range(loadgens)]
    procs = [
        Proc([*cmd_base, "--calls", str(share)], cpus=cpus, env=_env()) for share in shares if share
    ]
    marks: list[dict[str, float]] = [{} for _ in procs]
    results: list[dict[str, Any] | None] = [None] * len(procs)

    def read(i: int) -> None:
        stdout = procs[i].popen.stdout
        assert stdout is not None
        for line in stdout:
            if not line.startswith("{"):
                continue
            message = json.loads(line)
            if "event" in message:
                marks[i][message["event"]] = time.monotonic()
            else:
                results[i] = message

    readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(len(procs))]
    for reader in readers:
        reader.start()
    for i, proc in enumerate(procs):
        proc.popen.wait()
        readers[i].join()
    failed = [i for i, p in enumerate(procs) if p.popen.returncode or results[i] is None]
    if failed:
        tail = procs[failed[0]].tail()
        for p in procs:
            p.stop()
        raise RuntimeError(f"load generator failed:\n{tail}")
    for p in procs:
        p.stop()
    outputs = [r for r in results if r is not None]
    summary = live_load.summarise(live_load.merge([o["samples"] for o in outputs]))
    for key in ("measured_secs", "ramp_secs"):
        summary[key] = max(o[key] for o in outputs)
    summary["loadgen_cpu_pct"] = round(sum(o["loadgen_cpu_pct"] for o in outputs), 1)
    for key in ("loadgen_loop_lag_p99_ms", "loadgen_loop_lag_max_ms"):
        summary[key] = max(o[key] or 0.0 for o in outputs)
    begin = max(m.get("measure_start", 0.0) for m in marks)
    end = min(m.get("measure_end", 0.0) for m in marks)
    return summary, (begin, end)


EXPECTED_REPLY_SECS = 0.0  # set from the fakes' reply in main()


# -- one measured run --------------------------------------------------------------------------


class Sampler(threading.Thread):
    """The server's (and the fakes') CPU time and the server's RSS, every 0.2 s."""

    def __init__(self, server_pid: int, fakes_pid: int, health_url: str | None = None) -> None:
        super().__init__(daemon=True)
        self.pids = (server_pid, fakes_pid)
        # time, server cpu, fakes cpu, server rss, server runqueue wait
        self.samples: list[tuple[float, float, float, int, float]] = []
        # vani workers: every second, how many calls each holds (any worker's /health says)
        self.health_url = health_url
        self.worker_calls: list[tuple[float, list[int]]] = []
        self.halt = threading.Event()

    def poll_workers(self) -> None:
        if self.health_url is None:
            return
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as response:
                calls = json.loads(response.read()).get("worker_calls")
        except (OSError, ValueError):
            return
        if isinstance(calls, list):
            self.worker_calls.append((time.monotonic(), calls))

    def sample(self) -> None:
        server, fakes = self.pids
        now = time.monotonic()
        self.samples.append(
            (
                now,
                tree_cpu_secs(server),
                tree_cpu_secs(fakes),
                tree_rss_kib(server),
                tree_wait_secs(server),
            )
        )

    def run(self) -> None:
        self.sample()
        ticks = 0
        while not self.halt.wait(0.2):
            self.sample()
            ticks += 1
            if ticks % 5 == 0:
                self.poll_workers()
        self.sample()

    def spread(self, begin: float, end: float) -> list[int] | None:
        """Calls per worker (fewest first) at the moment inside the window they were most
        uneven; ``None`` without workers."""
        inside = [sorted(c) for t, c in self.worker_calls if begin <= t <= end]
        return max(inside, key=lambda c: (c[-1] - c[0], sum(c))) if inside else None

    def within(self, begin: float, end: float) -> list[tuple[float, float, float, int, float]]:
        inside = [s for s in self.samples if begin <= s[0] <= end]
        return inside if len(inside) >= 2 else self.samples


def one_run(
    framework: str,
    calls: int,
    plan: dict[str, Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """A fresh server and one warm-up call, then ``calls`` calls: they start over the ramp
    (``plan["ramp_rate"]`` calls a second) and are measured for ``plan["secs"]`` seconds
    once all are in."""
    server, target = start_server(framework, plan["urls"], plan["server_cpus"], plan["workers"])
    share: CpuShare | None = plan.get("cpu_share")
    capped, throttled = 0, 0
    try:
        if share is not None:
            cores = sorted(plan["server_cpus"])
            for i, pid in enumerate(_serving_pids(server.popen.pid, plan["workers"])):
                share.cap(pid, cores[i % len(cores)])
                capped += 1
        # Warm-up: with W workers, 4 W calls at once, so that (SO_REUSEPORT spreads them) every
        # worker has loaded its models before the baseline is taken.
        warm = 1 if plan["workers"] == 1 else 4 * plan["workers"]
        run_load(target, warm, 1.0, 0.0, plan["client_cpus"], 1)
        time.sleep(1.0)
        base = tree_rss_kib(server.popen.pid)
        health = None
        if framework == "vani" and plan["workers"] > 1:
            health = target["start_url"].removesuffix("/start") + "/health"
        sampler = Sampler(server.popen.pid, plan["fakes_pid"], health)
        sampler.start()
        ramp = calls / plan["ramp_rate"]
        result, (begin, end) = run_load(
            target, calls, plan["secs"], ramp, plan["client_cpus"], plan["loadgens"]
        )
        sampler.halt.set()
        sampler.join()
        crashed = server.popen.poll() is not None
    finally:
        server.stop()
        if share is not None:
            throttled = share.throttled()
            share.release()
    inside = sampler.within(begin, end)
    connected = calls - result["calls_failed"]
    span = inside[-1][0] - inside[0][0]
    cpu = inside[-1][1] - inside[0][1]
    fakes_cpu = inside[-1][2] - inside[0][2]
    peak = max(s[3] for s in inside)
    waited = inside[-1][4] - inside[0][4]
    result.update(
        {
            "framework": framework,
            "workers": plan["workers"],
            "cpu_share": share.share if share is not None else None,
            "cpu_share_processes": capped,
            "cpu_share_throttled_periods": throttled,
            "server_crashed": crashed,
            # With workers: calls per worker, fewest first, when they were most uneven.
            "worker_calls": sampler.spread(begin, end),
            "server_rss_base_mib": round(base / 1024, 1),
            "server_rss_peak_mib": round(peak / 1024, 1),
            # Per call that connected (an overloaded server may refuse or drop some).
            "rss_per_call_kib": round(max(0, peak - base) / max(1, connected), 1),
            "server_cpu_pct": round(100 * cpu / span, 1) if span else None,
            "server_cpu_pct_per_call": round(100 * cpu / span / calls, 3) if span else None,
            "calls_per_core_by_cpu": int(calls * span / cpu) if cpu else None,
            "fakes_cpu_pct": round(100 * fakes_cpu / span, 1) if span else None,
            # Runnable but not running (another process had the core): the machine's share.
            "server_runqueue_wait_pct": round(100 * waited / span, 1) if span else None,
        }
    )
    if crashed:
        result["keeps_up"] = False
    # The load generator must not be the bottleneck: flag runs where its own loop lagged.
    result["loadgen_saturated"] = (result["loadgen_loop_lag_p99_ms"] or 0) > 20.0
    log(json.dumps({k: v for k, v in result.items() if k not in ("failures",)}))
    return result


def search(
    framework: str, start: int, plan: dict[str, Any], log: Callable[[str], None]
) -> tuple[int, list[dict[str, Any]]]:
    """Largest N that keeps up: grow by 1.5× until a run falls behind, then bisect to ~5 %."""
    runs: list[dict[str, Any]] = []
    good, bad, n = 0, 0, start
    while not bad:
        r = one_run(framework, n, plan, log)
        runs.append(r)
        if r["keeps_up"]:
            good, n = n, int(n * 1.5) + 1
            if n > plan["max_calls"]:
                return good, runs
        else:
            bad = n
    lo, hi = (good, bad) if good else (0, bad)
    while hi - lo > max(1, lo // 20):
        mid = (lo + hi) // 2
        if mid == 0:
            break
        r = one_run(framework, mid, plan, log)
        runs.append(r)
        lo, hi = (mid, hi) if r["keeps_up"] else (lo, mid)
    return lo, runs


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    global EXPECTED_REPLY_SECS, NICE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI: a few short calls, no search")
    ap.add_argument("--only", choices=["vani", "pipecat"], help="one framework")
    ap.add_argument("--calls", type=int, help="one run of this many calls (no search)")
    ap.add_argument("--secs", type=float, help="measured seconds per run (default 30; quick 8)")
    ap.add_argument("--no-search", action="store_true", help="skip the search for N")
    ap.add_argument("--start", type=int, help="first N of the search (default: from CPU time)")
    ap.add_argument("--max-calls", type=int, default=3000, help="the search stops here")
    ap.add_argument("--rss-calls", type=int, default=RSS_CALLS, help="N of the RSS run")
    ap.add_argument("--latency-calls", type=int, default=5, help="N of the latency run")
    ap.add_argument("--ramp-rate", type=float, default=10.0, help="calls started per second")
    ap.add_argument("--workers", type=int, default=1, help="vani: also W workers on W cores")
    ap.add_argument("--loadgens", type=int, default=1, help="load generator processes")
    ap.add_argument("--server-cpus", help="cores for the server, e.g. 3 or 2-5 (default: last)")
    ap.add_argument(
        "--cpu-share",
        type=float,
        help="cap each serving process at this fraction of a core (cgroup quota, root), so a"
        " machine without spare cores can compare 1 and W workers; fakes and load use the rest",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of the fakes, servers and load generators (e.g. -10 on a shared machine,"
        " so that the pinned server gets its core; needs root)",
    )
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    NICE = args.nice

    ncpu = len(os.sched_getaffinity(0))
    cores = sorted(os.sched_getaffinity(0))
    frameworks = [args.only] if args.only else ["vani", "pipecat"]
    if "pipecat" in frameworks and pipecat_python() is None:
        if args.only == "pipecat":
            raise SystemExit("set VANI_PIPECAT_PYTHON to a Python with pipecat-ai 1.14")
        print("VANI_PIPECAT_PYTHON is not set: measuring vani alone", file=sys.stderr)
        frameworks.remove("pipecat")
    secs = args.secs or (8.0 if args.quick else 30.0)

    def server_cpus(width: int) -> set[int]:
        if args.server_cpus:
            lo, _, hi = args.server_cpus.partition("-")
            return set(range(int(lo), int(hi or lo) + 1))
        return set(cores[-width:])

    share = CpuShare(args.cpu_share) if args.cpu_share else None

    def client_cpus(server: set[int]) -> set[int] | None:
        if share is not None:  # the servers are capped: the rest of every core is free
            return None
        rest = set(cores) - server
        return rest or None

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    fakes_cpus = client_cpus(server_cpus(max(1, args.workers)))
    fakes, urls = start_fakes(fakes_cpus)
    from live_fakes import REPLY

    EXPECTED_REPLY_SECS = len(REPLY) * 0.040
    report: dict[str, Any] = {
        "machine": {"cpus": ncpu, "load_avg": os.getloadavg(), "nice": NICE},
        "mode": "quick" if args.quick else "full",
        "measured_secs": secs,
        "frameworks": {},
    }
    try:
        for fw in frameworks:
            cpus = server_cpus(1)
            plan = {
                "urls": urls,
                "server_cpus": cpus,
                "client_cpus": client_cpus(cpus),
                "workers": 1,
                "secs": secs,
                "ramp_rate": args.ramp_rate,
                "loadgens": args.loadgens,
                "max_calls": args.max_calls,
                "fakes_pid": fakes.popen.pid,
                "cpu_share": share,
            }
            side: dict[str, Any] = {}
            report["frameworks"][fw] = side
            if args.quick or args.calls:
                # One run of one size; vani with --workers W runs on W workers and W cores.
                one_plan = plan
                if fw == "vani" and args.workers > 1:
                    wcpus = server_cpus(args.workers)
                    one_plan = dict(plan, server_cpus=wcpus, client_cpus=client_cpus(wcpus))
                    one_plan["workers"] = args.workers
                side["latency"] = one_run(fw, args.calls or 3, one_plan, log)
                side["rss"] = side["latency"]
                continue
            side["latency"] = one_run(fw, args.latency_calls, plan, log)
            side["rss"] = one_run(fw, args.rss_calls, plan, log)
            if not args.no_search:
                # From the CPU time a call took at N = latency-calls: most of what one core holds.
                by_cpu = side["latency"].get("calls_per_core_by_cpu") or 10
                by_cpu = int(by_cpu * (share.share if share is not None else 1.0))
                start = args.start or max(4, min(args.max_calls, int(by_cpu * 0.8)))
                side["largest_n"], side["search"] = search(fw, start, plan, log)
            if fw == "vani" and args.workers > 1:
                wcpus = server_cpus(args.workers)
                wplan = dict(plan, server_cpus=wcpus, client_cpus=client_cpus(wcpus))
                wplan["workers"] = args.workers
                start = (side.get("largest_n") or 100) * args.workers
                found, runs = search(fw, start, wplan, log)
                one = side.get("largest_n") or 0
                side["workers"] = {
                    "workers": args.workers,
                    "cpu_share": args.cpu_share,
                    "largest_n": found,
                    "scaling": round(found / (args.workers * one), 2) if one else None,
                    "search": runs,
                }
    finally:
        fakes.stop()
    report["machine"]["load_avg_end"] = os.getloadavg()
    if share is not None:
        report["note"] = (
            f"each serving process capped at {share.share:g} of a core on a core of its own;"
            " the fakes and the load generator use the rest of every core"
        )
    elif ncpu <= 2:
        report["note"] = (
            "the fakes and the load generator share the one core the server does not use"
        )
    print(table(report))
    line = json.dumps(report)
    print(line)
    if args.json:
        args.json.write_text(line + "\n")
    return report


if __name__ == "__main__":
    main()
