"""Rewrite Silero VAD's 16 kHz convolutions as matrix products over the whole batch.

    python tools/silero_batched.py UPSTREAM.onnx OUT.onnx

onnxruntime runs a 1-D ``Conv`` one batch item at a time, so the STFT's filter bank and the
encoder's kernels are read again for every window, and batching windows across calls stops
paying at ~54 µs per window. Here the 16 kHz branch's STFT ``Conv`` (kernel 256, stride 128)
becomes framing slices and one ``MatMul``, and each encoder ``Conv`` (kernel 3, padding 1) a
pad, three strided slices and one ``MatMul`` plus its bias: the same sums, over every window
of the batch at once. The 8 kHz branch is left as it is.

The rewritten branch expects what vani feeds it: 576 samples (64 of context + a 512-sample
window) per row. Needs the ``onnx`` package (a development tool, not a dependency of vani).
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROW = 576  # 64 context + 512 window samples at 16 kHz
PADDED = ROW + 64  # Silero reflect-pads 64 samples before its STFT
HOP = 128


def _const(graph: onnx.GraphProto, name: str) -> np.ndarray:
    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and name in node.output:
            return numpy_helper.to_array(node.attribute[0].t)
    raise KeyError(f"no constant named {name!r}")


def _replace(graph: onnx.GraphProto, old: onnx.NodeProto, nodes: list[onnx.NodeProto]) -> None:
    at = list(graph.node).index(old)
    graph.node.remove(old)
    for i, node in enumerate(nodes):
        graph.node.insert(at + i, node)


def _ints(graph: onnx.GraphProto, name: str, *values: int) -> str:
    graph.initializer.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
    return name


def _stft(graph: onnx.GraphProto) -> int:
    conv = next(n for n in graph.node if n.op_type == "Conv" and n.name.endswith("/stft/Conv"))
    weight = _const(graph, conv.input[1])  # [bins, 1, kernel]
    kernel = weight.shape[2]
    frames = (PADDED - kernel) // HOP + 1
    if kernel != 2 * HOP or PADDED % HOP:
        raise SystemExit(f"unexpected stft shape: kernel {kernel}, hop {HOP}")
    p = "stft_mm/"
    graph.initializer.append(numpy_helper.from_array(weight[:, 0, :].T.copy(), p + "W"))
    _replace(
        graph,
        conv,
        [
            # [B, 1, PADDED] -> [B, PADDED / HOP, HOP]; frame i is hops i and i + 1.
            helper.make_node(
                "Reshape",
                [conv.input[0], _ints(graph, p + "shape", 0, PADDED // HOP, HOP)],
                [p + "hops"],
            ),
            helper.make_node(
                "Slice",
                [
                    p + "hops",
                    _ints(graph, p + "s0", 0),
                    _ints(graph, p + "e0", frames),
                    _ints(graph, p + "axis", 1),
                ],
                [p + "first"],
            ),
            helper.make_node(
                "Slice",
                [
                    p + "hops",
                    _ints(graph, p + "s1", 1),
                    _ints(graph, p + "e1", frames + 1),
                    p + "axis",
                ],
                [p + "second"],
            ),
            helper.make_node("Concat", [p + "first", p + "second"], [p + "frames"], axis=2),
            helper.make_node("MatMul", [p + "frames", p + "W"], [p + "bins"]),
            helper.make_node("Transpose", [p + "bins"], [conv.output[0]], perm=[0, 2, 1]),
        ],
    )
    return frames


def _encoder(graph: onnx.GraphProto, layer: int, frames: int) -> int:
    suffix = f"/encoder/{layer}/reparam_conv/Conv"
    conv = next(n for n in graph.node if n.op_type == "Conv" and n.name.endswith(suffix))
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    weight, bias = _const(graph, conv.input[1]), _const(graph, conv.input[2])
    out_ch, in_ch, kernel = weight.shape
    stride = attrs["strides"][0]
    if list(attrs["pads"]) != [1, 1] or kernel != 3:
        raise SystemExit(f"unexpected encoder conv {layer}: {attrs}")
    out_frames = (frames + 2 - kernel) // stride + 1
    p = f"enc{layer}_mm/"
    # Rows ordered tap by tap, channels within a tap, as the slices are concatenated below.
    rows = np.transpose(weight, (2, 1, 0)).reshape(kernel * in_ch, out_ch).copy()
    graph.initializer.append(numpy_helper.from_array(rows, p + "W"))
    graph.initializer.append(numpy_helper.from_array(bias.astype(np.float32), p + "b"))
    nodes = [
        helper.make_node(
            "Pad",
            [conv.input[0], _ints(graph, p + "pads", 0, 0, 1, 0, 0, 1)],
            [p + "padded"],
            mode="constant",
        )
    ]
    axis, step = _ints(graph, p + "axis", 2), _ints(graph, p + "step", stride)
    taps = []
    for tap in range(kernel):
        end = tap + stride * (out_frames - 1) + 1
        nodes.append(
            helper.make_node(
                "Slice",
                [
                    p + "padded",
                    _ints(graph, p + f"s{tap}", tap),
                    _ints(graph, p + f"e{tap}", end),
                    axis,
                    step,
                ],
                [p + f"tap{tap}"],
            )
        )
        taps.append(p + f"tap{tap}")
    nodes += [
        helper.make_node("Concat", taps, [p + "cols"], axis=1),
        helper.make_node("Transpose", [p + "cols"], [p + "rows"], perm=[0, 2, 1]),
        helper.make_node("MatMul", [p + "rows", p + "W"], [p + "prod"]),
        helper.make_node("Add", [p + "prod", p + "b"], [p + "sum"]),
        helper.make_node("Transpose", [p + "sum"], [conv.output[0]], perm=[0, 2, 1]),
    ]
    _replace(graph, conv, nodes)
    return out_frames


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every value a node of ``graph`` (or of a subgraph inside one) reads, and its outputs."""
    names = {o.name for o in graph.output}
    for node in graph.node:
        names.update(node.input)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                names |= _names_read(attr.g)
    return names


def _drop_unused(graph: onnx.GraphProto) -> None:
    # The replaced convolutions' kernels would otherwise stay in the file, and onnxruntime
    # warns about each unused initializer every time a process loads the model.
    used = _names_read(graph)
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    for node in [n for n in graph.node if n.op_type == "Constant" and n.output[0] not in used]:
        graph.node.remove(node)


def rewrite(model: onnx.ModelProto) -> onnx.ModelProto:
    branch = next(n for n in model.graph.node if n.op_type == "If")
    then = next(a for a in branch.attribute if a.name == "then_branch").g  # sr == 16000
    frames = _stft(then)
    for layer in range(4):
        frames = _encoder(then, layer, frames)
    _drop_unused(then)
    onnx.checker.check_model(model)
    return model


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    onnx.save(rewrite(onnx.load(sys.argv[1])), sys.argv[2])


if __name__ == "__main__":
    main()
