"""Whole live calls over WebSocket, vani beside Pipecat 1.14 (``live_calls.py``), as a benchmark.

    pytest benchmarks/bench_live_calls.py --benchmark-disable   # CI: the quick mode, once
    python benchmarks/live_calls.py                             # the real figures (minutes)

The quick mode starts the fakes, then for each framework a server pinned to one core, a warm-up
call and three calls from the load generator, measured for 8 s once all are in. Pipecat's side runs
when ``VANI_PIPECAT_PYTHON`` names its interpreter. This test checks that the run produced sane
results (every call connected and every turn was answered with a whole reply) and records the
figures in ``extra_info``; it asserts nothing about time, so a loaded machine cannot fail it.
Two fast tests check the measurement itself: the load generator's protobuf framing against
vani's ``ProtobufFrameSerializer``, and the lag, gap and latency arithmetic on a hand-made call.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # live_load, live_wire: the benchmark's own modules

_FIGURES = (
    "framework_p50_ms",
    "framework_p99_ms",
    "eos_to_first_audio_p50_ms",
    "lag_p99_ms",
    "gaps",
    "rss_per_call_kib",
    "server_cpu_pct_per_call",
    "calls_per_core_by_cpu",
    "bot_ready_p50_ms",
)


def _quick(only: str, tmp_path: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / f"live_calls_{only}.json"
    cmd = [sys.executable, str(HERE / "live_calls.py"), "--quick", "--only", only, *extra]
    done = subprocess.run(
        [*cmd, "--json", str(out)], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode and "--cpu-share:" in done.stderr:
        # This machine's cgroups cannot cap a process (read-only, or a cgroup v2 tree without
        # the cpu controller delegated): the option says so and exits before any call.
        pytest.skip(done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def _check(side: dict[str, Any]) -> None:
    run = side["latency"]
    assert not run["server_crashed"]
    assert run["calls"] > 0
    assert run["calls_failed"] == 0, run["failures"]
    assert run["turns"] >= run["calls"], "a call had no measured turn"
    assert run["turns_answered"] == run["turns"], "a turn got no reply"
    assert run["warmup_turns_answered"] == run["warmup_turns"], "a turn got no reply"
    assert run["replies_short"] == 0, "a reply was cut short"
    assert run["reply_frames"] > 0
    assert run["framework_samples"] == run["turns"], "a turn had no user-stopped-speaking"
    assert run["rtvi_errors"] == 0, run["rtvi_error_samples"]


@pytest.mark.parametrize("framework", ["vani", "pipecat"])
def test_live_calls_quick(benchmark: BenchmarkFixture, tmp_path: Path, framework: str) -> None:
    if framework == "pipecat" and not os.environ.get("VANI_PIPECAT_PYTHON"):
        pytest.skip("VANI_PIPECAT_PYTHON is not set (tools/ci/setup-10-pipecat.sh sets it)")
    if framework == "vani" and importlib.util.find_spec("vani.server") is None:
        pytest.skip("vani.server is not in this build")
    benchmark.group = "live-calls"
    report = benchmark.pedantic(_quick, args=(framework, tmp_path), rounds=1, iterations=1)
    side = report["frameworks"][framework]
    _check(side)
    benchmark.extra_info.update({key: side["latency"].get(key) for key in _FIGURES})


# -- the measurement itself (fast; no processes) ------------------------------------------------


def test_live_calls_workers_on_cpu_shares_quick(
    benchmark: BenchmarkFixture, tmp_path: Path
) -> None:
    """``--workers 2 --cpu-share 0.5``: each worker is found, capped and pinned, the calls spread
    over them are all answered, and the cgroups are gone afterwards. Where this machine cannot
    cap a process (not root, no writable cgroup cpu controller) the script says so and the test
    skips with its words."""
    if importlib.util.find_spec("vani.server") is None:
        pytest.skip("vani.server is not in this build")
    roots = [Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu")]

    def groups() -> set[Path]:
        return {g for r in roots if r.is_dir() for g in r.glob("vani-bench-*")}

    before = groups()
    benchmark.group = "live-calls"
    args = ("--workers", "2", "--cpu-share", "0.5")
    report = benchmark.pedantic(_quick, args=("vani", tmp_path, *args), rounds=1, iterations=1)
    side = report["frameworks"]["vani"]
    _check(side)
    run = side["latency"]
    assert run["workers"] == 2 and run["cpu_share"] == 0.5
    assert run["cpu_share_processes"] == 2, "a worker was not capped"
    # Every worker's calls, from any worker's /health, while the calls ran.
    assert run["worker_calls"] is not None and len(run["worker_calls"]) == 2
    assert sum(run["worker_calls"]) == run["calls"], run["worker_calls"]
    assert groups() == before, "a cgroup was left behind"


def test_wire_matches_vani_serializer() -> None:
    """The load generator's framing is what vani's ProtobufFrameSerializer reads and writes."""
    import live_wire

    from vani.frames import InputAudioRawFrame, InputTransportMessageFrame, OutputAudioRawFrame
    from vani.serializers import ProtobufFrameSerializer

    serializer = ProtobufFrameSerializer()
    pcm = bytes(range(256)) * 2 + b"\x01\x02"
    (frame,) = serializer.deserialize(live_wire.audio_message(pcm, 16000))
    assert isinstance(frame, InputAudioRawFrame)
    assert (frame.audio, frame.sample_rate, frame.num_channels) == (pcm, 16000, 1)
    (ready,) = serializer.deserialize(live_wire.client_ready())
    assert isinstance(ready, InputTransportMessageFrame)
    assert ready.message["type"] == "client-ready"
    data = serializer.serialize(OutputAudioRawFrame(audio=pcm, sample_rate=24000))
    assert data is not None
    assert live_wire.parse(data) == ("audio", (pcm, 24000, 1))


def test_lag_gap_and_latency_arithmetic() -> None:
    """One call, two measured turns, timestamps chosen by hand: the figures follow."""
    import live_load

    call = live_load.Call(index=0)
    call.t0 = 100.0
    # Turn 1: speech ends at 101.0, the server ends the turn at 101.8, audio from 101.85:
    # 3 frames of 40 ms, the third 70 ms late (a 30 ms gap after 2 × 40 ms).
    # Turn 2: speech ends at 106.0, no reply.
    call.turns = [
        live_load.Turn(100.0, 101.0, 105.0, True),
        live_load.Turn(105.0, 106.0, 110.0, True),
    ]
    call.events = [(101.8, "user-stopped-speaking"), (106.8, "user-stopped-speaking")]
    call.audio = [(101.85, 0.04), (101.89, 0.04), (102.0, 0.04)]
    samples = live_load.collect([call], expected_reply_secs=0.12)
    summary = live_load.summarise(samples)
    assert summary["turns"] == 2
    assert summary["turns_answered"] == 1
    assert summary["reply_frames"] == 3
    assert summary["gaps"] == 1
    assert summary["gap_max_ms"] == pytest.approx(70.0)
    assert summary["lag_max_ms"] == pytest.approx(70.0)
    assert summary["framework_p50_ms"] == pytest.approx(50.0)
    assert summary["eos_to_first_audio_p50_ms"] == pytest.approx(850.0)
    assert summary["replies_short"] == 0
    assert summary["keeps_up"] is False  # a turn went unanswered (and a gap)
    merged = live_load.summarise(live_load.merge([samples, samples]))
    assert merged["turns"] == 4
    assert merged["gaps"] == 2
