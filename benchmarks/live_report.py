"""The table ``live_calls.py`` prints: vani and Pipecat side by side, with the ratio and target."""

from __future__ import annotations

from typing import Any

TARGET_CALLS = 150


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(report: dict[str, Any]) -> str:
    fw = report["frameworks"]
    v, p = fw.get("vani", {}), fw.get("pipecat", {})
    rows: list[tuple[str, Any, Any, str]] = []

    def get(side: dict[str, Any], *path: str) -> Any:
        node: Any = side
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    rows.append(
        ("largest N: p99 lag < 100 ms, no gap", get(v, "largest_n"), get(p, "largest_n"),
         f"≥ {TARGET_CALLS} and ≥ 10× Pipecat")
    )  # fmt: skip
    rss_n = get(v, "rss", "calls") or get(p, "rss", "calls")
    rows.append(
        (f"RSS per call at N = {rss_n} (KiB)", get(v, "rss", "rss_per_call_kib"),
         get(p, "rss", "rss_per_call_kib"), "≤ 1024")
    )  # fmt: skip
    lat_n = get(v, "latency", "calls") or get(p, "latency", "calls")
    for label, key, target in (
        ("framework: user-stopped → 1st audio p50 (ms)", "framework_p50_ms", "≤ 2"),
        ("framework: user-stopped → 1st audio p99 (ms)", "framework_p99_ms", "≤ 10"),
        ("end of speech → 1st audio p50 (ms)", "eos_to_first_audio_p50_ms", ""),
        ("end of speech → 1st audio p99 (ms)", "eos_to_first_audio_p99_ms", ""),
        ("output lag p99 (ms)", "lag_p99_ms", "< 100"),
        ("connect → bot-ready p50 (ms)", "bot_ready_p50_ms", ""),
        ("server CPU per call (% of a core)", "server_cpu_pct_per_call", ""),
        ("calls per core, by CPU time", "calls_per_core_by_cpu", ""),
        ("server waiting for its core (% of time)", "server_runqueue_wait_pct", ""),
    ):
        rows.append((f"{label} [N = {lat_n}]", get(v, "latency", key), get(p, "latency", key),
                     target))  # fmt: skip
    if "workers" in v:
        w = v["workers"]
        each = f", {w['cpu_share']:g} core each" if w.get("cpu_share") else ""
        one = f"one worker at {w['cpu_share']:g} core" if w.get("cpu_share") else "one core"
        rows.append(
            (f"largest N with {w['workers']} workers on {w['workers']} cores{each}",
             w.get("largest_n"), None, f"≥ 0.9 × {w['workers']} × {one}")
        )  # fmt: skip
        rows.append((f"  scaling against {one}", w.get("scaling"), None, "≥ 0.9"))
    header = ("figure", "vani", "Pipecat 1.14", "vani ÷ Pipecat", "target")
    lines = []
    for label, a, b, target in rows:
        ratio = ""
        if isinstance(a, int | float) and isinstance(b, int | float) and a and b:
            r = a / b
            lower_better = "largest" not in label and "per core" not in label
            ratio = f"{(1 / r if lower_better else r):.1f}× better"
        lines.append((label, _fmt(a), _fmt(b), ratio, target))
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(5)]
    out = [" | ".join(str(c).ljust(widths[i]) for i, c in enumerate(header))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(str(c).ljust(widths[i]) for i, c in enumerate(row)) for row in lines]
    return "\n".join(out)
