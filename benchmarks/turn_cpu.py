"""CPU time of the end-of-turn model per session: features, the bare ONNX run, batches, and
onnxruntime's session options (threads, spin-waiting, graph optimisation).

    PYTHONPATH=. python benchmarks/turn_cpu.py [--quick]

CPU time (``time.process_time``: every thread of the process) rather than wall time: the
machine this ran on was shared, and onnxruntime's (and OpenBLAS's) worker threads spin while
they wait, which costs CPU another call could have used but shows in no wall-clock figure.
"Per session" is one question: the features of that session's 3 s of audio plus its share of
one inference over the batch. Results: benchmarks/README.md, docs/turn-taking.md.
"""

from __future__ import annotations

import argparse
import importlib.resources
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_turn import _audio, _sessions

from vani.audio.turn import MODEL_FILE
from vani.audio.turn_features import N_FRAMES, N_MELS, log_mel_features


@dataclass(frozen=True)
class Options:
    name: str
    intra: int  # 0: onnxruntime's default (one thread per core)
    spinning: bool = True
    opt: str = "all"
    parallel: bool = False


CONFIGS = (
    Options("intra 1 (vani's default)", 1),
    Options("intra 1, no spinning", 1, spinning=False),
    Options("intra default (2 here)", 0),
    Options("intra default, no spinning", 0, spinning=False),
    Options("intra 1, graph opt basic", 1, opt="basic"),
    Options("intra 1, graph opt extended", 1, opt="extended"),
    Options("intra 1, parallel execution", 1, parallel=True),
)


def _session(o: Options) -> Callable[[npt.NDArray[np.float32]], object]:
    import onnxruntime as ort

    levels = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    so = ort.SessionOptions()
    so.intra_op_num_threads = o.intra
    so.inter_op_num_threads = 1
    so.graph_optimization_level = levels[o.opt]
    so.execution_mode = (
        ort.ExecutionMode.ORT_PARALLEL if o.parallel else ort.ExecutionMode.ORT_SEQUENTIAL
    )
    if not o.spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    data = (importlib.resources.files("vani") / "models" / MODEL_FILE).read_bytes()
    sess = ort.InferenceSession(data, sess_options=so, providers=["CPUExecutionProvider"])
    return lambda f: sess.run(None, {"input_features": f})


def _cpu_wall(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median CPU and wall seconds of ``fn`` over ``rounds``."""
    cpu, wall = [], []
    for _ in range(rounds):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer configs and rounds")
    args = ap.parse_args(argv)
    batches = (1, 8, 32) if args.quick else (1, 8, 32, 64)
    configs = CONFIGS[:3] if args.quick else CONFIGS
    a3 = _audio(3.0)
    out = np.empty((N_MELS, N_FRAMES), dtype=np.float32)
    fc, fw = _cpu_wall(lambda: log_mel_features(a3, out), 30)
    print(f"features, 3 s of audio: CPU {fc * 1e3:.1f} ms, wall {fw * 1e3:.1f} ms")
    print()
    print(
        "| session options | batch | bare ONNX CPU ms/session | with features CPU ms/session"
        " | wall ms/session | CPU / unbatched |"
    )
    print("|---|---|---|---|---|---|")
    for o in configs:
        run = _session(o)
        run(np.zeros((1, N_MELS, N_FRAMES), dtype=np.float32))  # warm
        base = None
        for n in batches:
            audios = _sessions(n)
            feats = np.empty((n, N_MELS, N_FRAMES), dtype=np.float32)
            for i, a in enumerate(audios):
                log_mel_features(a, out=feats[i])
            rounds = 9 if n == 1 else (3 if n <= 8 else 2)
            if args.quick:
                rounds = max(1, rounds // 2)
            bc, _ = _cpu_wall(lambda r=run, f=feats: r(f), rounds)

            def whole(
                r: Callable[[npt.NDArray[np.float32]], object] = run,
                au: list[npt.NDArray[np.float32]] = audios,
                f: npt.NDArray[np.float32] = feats,
            ) -> None:
                for i, a in enumerate(au):
                    log_mel_features(a, out=f[i])
                r(f)

            wc, ww = _cpu_wall(whole, rounds)
            per = wc / n
            base = per if n == 1 else base
            ratio = per / base if base else 1.0
            print(
                f"| {o.name} | {n} | {bc / n * 1e3:.1f} | {per * 1e3:.1f} | {ww / n * 1e3:.1f}"
                f" | {ratio:.2f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
