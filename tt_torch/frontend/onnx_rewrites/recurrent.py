"""RNN, GRU, LSTM and Scan unrolled over a static length."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .graph import Graph, node_attrs, subgraph, take, text, unsqueeze

_RECURRENT_LIMIT = 256  # time steps unrolled


_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """RNN, GRU and LSTM (default activations, time-major layout, every sequence full length)
    unrolled over time: per direction and step, the input and hidden products and the gate
    formulas of the ONNX spec (GRU's linear_before_reset, LSTM's peepholes included).
    torch-mlir lowers them to loops with dynamic slices StableHLO refuses."""
    a = node_attrs(node)
    kind, x = node.op_type, node.input[0]
    shape = g.shapes.get(x)
    if shape is None or a.get("layout", 0) or "activations" in a or "clip" in a or g.opset < 13:
        return None
    if kind == "LSTM" and a.get("input_forget", 0):
        return None
    steps, batch, _ = shape
    hidden = int(a["hidden_size"])
    direction = text(a.get("direction", "forward"))
    dirs = 2 if direction == "bidirectional" else 1
    if steps > _RECURRENT_LIMIT or steps == 0:
        return None

    def given(k: int) -> str | None:
        return node.input[k] if len(node.input) > k and node.input[k] else None

    lengths = g.input(node, 4)
    if given(4) and (lengths is None or np.any(lengths != steps)):
        return None
    gates = _GATES[kind]
    elem = g.types.get(x)
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    base = f"{node.output[0] or node.output[1] or node.name}__{kind.lower()}"
    nodes: list[onnx.NodeProto] = []
    count = [0]

    def op(kind_: str, inputs: list[str], **attrs) -> str:
        count[0] += 1
        out = f"{base}_{count[0]}"
        nodes.append(helper.make_node(kind_, inputs, [out], name=f"{node.name}/{kind_.lower()}_{count[0]}", **attrs))
        return out

    def ints(values) -> str:
        count[0] += 1
        return g.constant(f"{base}_k{count[0]}", np.array(values, np.int64))

    def pick(tensor: str, index: int, axis: int = 0) -> str:
        return op(
            "Gather", [tensor, g.constant(f"{base}_at{index}_{count[0] + 1}", np.array(index, np.int64))], axis=axis
        )

    def part(tensor: str, j: int, width: int = hidden) -> str:  # the j-th block of the last axis
        return op("Slice", [tensor, ints([j * width]), ints([(j + 1) * width]), ints([-1])])

    zeros = g.constant(f"{base}_zeros", np.zeros((batch, hidden), dtype=dtype))
    one = g.constant(f"{base}_one", np.ones((), dtype=dtype))
    finals_h, finals_c, outputs = [], [], []
    for d in range(dirs):
        w_t = op("Transpose", [pick(node.input[1], d)], perm=[1, 0])
        r_t = op("Transpose", [pick(node.input[2], d)], perm=[1, 0])
        if given(3):
            b = pick(node.input[3], d)
            wb, rb = part(b, 0, gates * hidden), part(b, 1, gates * hidden)
        else:
            wb = rb = g.constant(f"{base}_nobias", np.zeros(gates * hidden, dtype=dtype))
        h = pick(node.input[5], d) if given(5) else zeros
        c = pick(node.input[6], d) if kind == "LSTM" and given(6) else zeros
        peep = pick(node.input[7], d) if kind == "LSTM" and given(7) else None
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        per_step = {}
        for t in range(steps - 1, -1, -1) if reverse else range(steps):
            gx = op("Add", [op("MatMul", [pick(x, t), w_t]), wb])
            gh = op("Add", [op("MatMul", [h, r_t]), rb])
            if kind == "RNN":
                h = op("Tanh", [op("Add", [gx, gh])])
            elif kind == "GRU":
                z = op("Sigmoid", [op("Add", [part(gx, 0), part(gh, 0)])])
                r = op("Sigmoid", [op("Add", [part(gx, 1), part(gh, 1)])])
                if a.get("linear_before_reset", 0):
                    cand = op("Tanh", [op("Add", [part(gx, 2), op("Mul", [r, part(gh, 2)])])])
                else:
                    rh = op("MatMul", [op("Mul", [r, h]), part(r_t, 2)])
                    cand = op("Tanh", [op("Add", [part(gx, 2), op("Add", [rh, part(rb, 2)])])])
                h = op("Add", [op("Mul", [op("Sub", [one, z]), cand]), op("Mul", [z, h])])
            else:
                pre = [op("Add", [part(gx, j), part(gh, j)]) for j in range(4)]  # i, o, f, c
                if peep is not None:
                    pre[0] = op("Add", [pre[0], op("Mul", [part(peep, 0), c])])
                    pre[2] = op("Add", [pre[2], op("Mul", [part(peep, 2), c])])
                i_g, f_g = op("Sigmoid", [pre[0]]), op("Sigmoid", [pre[2]])
                c = op("Add", [op("Mul", [f_g, c]), op("Mul", [i_g, op("Tanh", [pre[3]])])])
                if peep is not None:
                    pre[1] = op("Add", [pre[1], op("Mul", [part(peep, 1), c])])
                h = op("Mul", [op("Sigmoid", [pre[1]]), op("Tanh", [c])])
            per_step[t] = h
        finals_h.append(op("Unsqueeze", [h, ints([0])]))
        finals_c.append(op("Unsqueeze", [c, ints([0])]))
        if node.output[0]:
            stacked = [op("Unsqueeze", [per_step[t], ints([0, 1])]) for t in range(steps)]
            outputs.append(op("Concat", stacked, axis=0))
    if node.output[0]:
        nodes.append(helper.make_node("Concat", outputs, [node.output[0]], axis=1, name=f"{node.name}/y"))
    if len(node.output) > 1 and node.output[1]:
        nodes.append(helper.make_node("Concat", finals_h, [node.output[1]], axis=0, name=f"{node.name}/y_h"))
    if len(node.output) > 2 and node.output[2]:
        nodes.append(helper.make_node("Concat", finals_c, [node.output[2]], axis=0, name=f"{node.name}/y_c"))
    return nodes


_SCAN_LIMIT = 256  # iterations unrolled


def scan(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """A Scan over a static length, unrolled: one renamed copy of the body per step, its state
    carried from step to step, each step's slice of the scan inputs taken with a Gather and the
    per-step scan outputs stacked with Unsqueeze + Concat (directions and axes as given).
    torch-mlir converts no Scan."""
    a = node_attrs(node)
    body: onnx.GraphProto = a.get("body")
    m = int(a.get("num_scan_inputs", 0))
    if body is None or g.opset < 9 or any(subgraph(n) for n in body.node):
        return None
    n_state = len(node.input) - m
    k_out = len(body.output) - n_state
    scan_inputs = list(node.input[n_state:])
    in_axes = [int(v) for v in a.get("scan_input_axes", [0] * m)]
    in_dirs = [int(v) for v in a.get("scan_input_directions", [0] * m)]
    out_axes = [int(v) for v in a.get("scan_output_axes", [0] * k_out)]
    out_dirs = [int(v) for v in a.get("scan_output_directions", [0] * k_out)]
    lengths = set()
    for j, name in enumerate(scan_inputs):
        shape = g.shapes.get(name)
        if shape is None:
            return None
        in_axes[j] %= len(shape)
        lengths.add(shape[in_axes[j]])
    if len(lengths) != 1:
        return None
    steps = lengths.pop()
    if steps > _SCAN_LIMIT or steps == 0:
        return None
    base = f"{node.output[0] or node.name}__scan"
    nodes: list[onnx.NodeProto] = []
    state = list(node.input[:n_state])
    pieces: list[list[str]] = [[] for _ in range(k_out)]
    body_inputs = [i.name for i in body.input]
    for t in range(steps):
        rename = dict(zip(body_inputs[:n_state], state))
        for j, name in enumerate(scan_inputs):
            at = steps - 1 - t if in_dirs[j] else t
            squeezed = f"{base}_t{t}_in{j}"
            nodes += take(g, name, in_axes[j], at, squeezed, f"{node.name}/t{t}/in{j}")
            rename[body_inputs[n_state + j]] = squeezed
        for init in body.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(init)
            copy.name = f"{base}_t{t}_{init.name}"
            g.made.append(copy)
            rename[init.name] = copy.name
        for k, inner in enumerate(body.node):
            for out in inner.output:
                if out:
                    rename[out] = f"{base}_t{t}_{out}"
            step = onnx.NodeProto()
            step.CopyFrom(inner)
            step.name = f"{node.name}/t{t}/{inner.name or inner.op_type.lower()}_{k}"
            del step.input[:]
            step.input.extend(rename.get(i, i) if i else "" for i in inner.input)
            del step.output[:]
            step.output.extend(rename.get(o, o) if o else "" for o in inner.output)
            nodes.append(step)
        outs = [rename.get(o.name, o.name) for o in body.output]
        state = outs[:n_state]
        for k in range(k_out):
            pieces[k].append(outs[n_state + k])
    for final, name in zip(node.output[:n_state], state):
        if final:
            nodes.append(helper.make_node("Identity", [name], [final], name=f"{node.name}/state"))
    for k, out in enumerate(node.output[n_state:]):
        if not out:
            continue
        axis = out_axes[k]
        if axis < 0:  # counted from the end of the stacked output: its rank is needed
            shape = g.shapes.get(out)
            if shape is None:
                return None
            axis %= len(shape)
        ordered = pieces[k][::-1] if out_dirs[k] else pieces[k]
        stacked = []
        for t, piece in enumerate(ordered):
            nodes.append(unsqueeze(g, piece, axis, f"{base}_out{k}_{t}", f"{node.name}/out{k}_{t}"))
            stacked.append(f"{base}_out{k}_{t}")
        nodes.append(helper.make_node("Concat", stacked, [out], axis=axis, name=f"{node.name}/out{k}"))
    return nodes
