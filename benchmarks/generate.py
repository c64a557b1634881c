"""Generation benchmark: Hugging Face ``generate()`` with a static KV cache, prefill and decode timed apart.

    python benchmarks/generate.py [--models gpt2 llama] [--rounds 2] [--runs 5] [--prompt 32] [--new-tokens 64] [--out DIR]
    python benchmarks/generate.py --one MODEL SYSTEM [...]   # one system in this process, one JSON line

Systems: eager, inductor, onnxruntime, tt (fast numerics); each (model, system) runs in its
own process, systems alternating in order from round to round as in ``run.py``.
Models (random weights, seeded, greedy decoding, batch 1, fp32): ``gpt2``, a GPT-2 with
4 layers, hidden 768, 12 heads, vocabulary 50257; ``llama``, a Llama with 4 layers,
hidden 768, 12 query and 4 key/value heads (grouped-query attention), MLP 2048,
vocabulary 32000.

eager, inductor and tt run ``model.generate(..., past_key_values=StaticCache(...),
compile_config=CompileConfig(backend=...))``: transformers runs the prefill eagerly and
the decode step through ``torch.compile`` with that backend. The decode step compiles
once: its shapes are static (one token, the cache's full length, the attention mask
padded to it), the position is a tensor (the cache's ``cumulative_length``), and the
cache's ``index_copy_`` writes its row into the cache's own buffer (``ttnn.update_cache``;
the counter's ``add_`` is a graph output written back: tt_torch/dynamo/mutations.py). The same ``StaticCache`` object is reset and reused
across runs (a new one would fail dynamo's guards on the buffers' identity and compile again).
ONNX Runtime runs two exported graphs (the prompt, and one token), each taking the
cache's key/value tensors as inputs and returning them updated; the greedy loop is Python.

Prefill ms: the prompt through the model until the first new token. Decode: the median
time between two consecutive new tokens (robust to other work on a shared machine),
tokens/s its inverse; per system the median over its runs and processes. First call s: the first ``generate()`` (or the
exports and sessions) with compiles. Each system's tokens are compared with eager's.
eager and tt are also timed in ONNX Runtime's loop shape (:func:`bare_loop`), in a table of
their own: the difference is what ``generate()`` adds per token.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_one import cold_process  # noqa: E402

SYSTEMS = ("eager", "inductor", "onnxruntime", "tt")
# also timed in ONNX Runtime's loop shape (bare_loop): what generate() adds per token
LOOP_SYSTEMS = ("eager", "tt")
MODELS = ("gpt2", "llama")


def config(name: str, tiny: bool = False):
    """The model's transformers config: the benchmark's size, or a tiny one for tests."""
    import transformers

    if name == "gpt2":
        size = dict(n_layer=2, n_embd=64, n_head=2, vocab_size=256) if tiny else dict(n_layer=4, n_embd=768, n_head=12)
        return transformers.GPT2Config(**size, n_positions=1024, bos_token_id=0, eos_token_id=None)
    if name == "llama":
        size = (
            dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, vocab_size=256)
            if tiny
            else dict(num_hidden_layers=4, hidden_size=768, intermediate_size=2048, num_attention_heads=12)
        )
        return transformers.LlamaConfig(
            **size,
            num_key_value_heads=size["num_attention_heads"] // (2 if tiny else 3),
            max_position_embeddings=2048,
            bos_token_id=0,
            eos_token_id=None,
            pad_token_id=None,
            tie_word_embeddings=False,
        )
    raise SystemExit(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def model(name: str, tiny: bool = False):
    import transformers

    torch.manual_seed(0)
    cls = transformers.GPT2LMHeadModel if name == "gpt2" else transformers.LlamaForCausalLM
    m = cls(config(name, tiny)).eval()
    m.generation_config.eos_token_id = None
    m.generation_config.pad_token_id = 0
    return m


def compile_config(system: str):
    """transformers' CompileConfig for the decode step: None for eager."""
    from transformers import CompileConfig

    if system == "eager":
        return None
    if system == "inductor":
        cc = CompileConfig(backend="inductor", fullgraph=True, dynamic=False, mode=None)
    else:
        from tt_torch.config import CompilerConfig

        # deployment speed: the device's numerics emulation off
        options = {"compiler_config": CompilerConfig(numerics="fast")}
        cc = CompileConfig(backend="tt", fullgraph=True, dynamic=False, mode=None, options=options)
    cc._compile_all_devices = True  # transformers compiles the decode step on CUDA-like devices only by default
    return cc


class Clock:
    """A generate() streamer that notes the time of each put: the prompt, then every new token."""

    def __init__(self):
        self.times: list[float] = []

    def put(self, value) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def per_token(times: list[float]) -> float:
    """The median time between consecutive tokens: one token slowed by another process on the
    machine moves it less than it moves the mean."""
    gaps = [b - a for a, b in zip(times[:-1], times[1:])]
    return statistics.median(gaps) if gaps else float("nan")


def hf_generate(m, system: str, prompt: torch.Tensor, new_tokens: int, cache=None):
    """One greedy generate() with a static cache; returns (tokens, prefill s, decode s per token, cache)."""
    from transformers import StaticCache

    if cache is None:
        cache = StaticCache(config=m.config, max_cache_len=prompt.shape[1] + new_tokens)
    else:
        cache.reset()
    clock = Clock()
    with torch.no_grad():
        out = m.generate(
            prompt,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            past_key_values=cache,
            compile_config=compile_config(system),
            streamer=clock,
        )
    t = clock.times
    return out[0, prompt.shape[1] :].tolist(), t[1] - t[0], per_token(t[1:]), cache


def bare_loop(m, system: str, prompt: torch.Tensor, new_tokens: int, cache) -> tuple[list[int], float]:
    """The decode step in ONNX Runtime's loop shape: the model called on one token at a time
    by a bare Python greedy loop (tokens, decode s per token), without generate()'s own code
    per token (logits processors, stopping criteria, streamer, input preparation). The prompt
    runs eagerly; tt-torch's step is the model's compiled call that generate() made (one more
    dynamo graph: the loop passes fewer arguments), over the same static cache."""
    step = m if system == "eager" else getattr(m, "_compiled_call", None) or m.get_compiled_call(compile_config(system))
    cache.reset()
    n = prompt.shape[1]
    with torch.no_grad():
        out = m(input_ids=prompt, cache_position=torch.arange(n), past_key_values=cache, use_cache=True)
        tokens = [int(out.logits[0, -1].argmax())]
        times = [time.perf_counter()]
        for pos in range(n, n + new_tokens - 1):
            ids = torch.tensor([[tokens[-1]]])
            out = step(input_ids=ids, cache_position=torch.tensor([pos]), past_key_values=cache, use_cache=True)
            tokens.append(int(out.logits[0, -1].argmax()))
            times.append(time.perf_counter())
    return tokens, per_token(times)


class CacheStep(torch.nn.Module):
    """The model on (tokens, their positions, every layer's key and value cache) -> (logits, the caches
    updated): what ONNX Runtime runs, the cache passed in and out explicitly."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, cache_position, *kv):
        from transformers import StaticCache

        cache = StaticCache(config=self.m.config, max_cache_len=kv[0].shape[2])
        for layer, k, v in zip(cache.layers, kv[0::2], kv[1::2]):
            layer.dtype, layer.device = k.dtype, k.device
            layer.batch_size, layer.num_heads = k.shape[:2]
            layer.k_head_dim, layer.v_head_dim = k.shape[-1], v.shape[-1]
            layer.keys, layer.values = k, v
            layer.cumulative_length = cache_position[0].clone()
            layer.is_initialized = True
        out = self.m(
            input_ids=input_ids,
            position_ids=cache_position[None],
            cache_position=cache_position,
            past_key_values=cache,
            use_cache=True,
        )
        return (out.logits[:, -1], *[t for layer in cache.layers for t in (layer.keys, layer.values)])


def empty_cache(m, length: int) -> list[torch.Tensor]:
    c = m.config
    heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return [torch.zeros(1, heads, length, head_dim) for _ in range(2 * c.num_hidden_layers)]


def ort_sessions(m, prompt_len: int, length: int):
    """ONNX Runtime sessions of the prompt step and the one-token step (TorchScript exporter)."""
    import onnxruntime as ort

    step = CacheStep(m).eval()
    kv = empty_cache(m, length)
    names = ["input_ids", "cache_position"] + [f"{kind}_{i}" for i in range(len(kv) // 2) for kind in ("key", "value")]
    outs = ["logits"] + [f"present_{n}" for n in names[2:]]
    folder = tempfile.mkdtemp(prefix="tt_generate_onnx_")
    sessions = []
    for n in (prompt_len, 1):
        path = os.path.join(folder, f"step{n}.onnx")
        example = (torch.zeros(1, n, dtype=torch.long), torch.arange(n), *kv)
        with torch.no_grad():
            torch.onnx.export(step, example, path, input_names=names, output_names=outs, dynamo=False)
        sessions.append(ort.InferenceSession(path, providers=["CPUExecutionProvider"]))
    return sessions, names


def ort_generate(sessions, names, m, prompt: torch.Tensor, new_tokens: int):
    """The greedy loop over ONNX Runtime's sessions; same outputs and timings as hf_generate."""
    import numpy as np

    prefill, decode = sessions
    n = prompt.shape[1]
    kv = [t.numpy() for t in empty_cache(m, n + new_tokens)]
    t0 = time.perf_counter()
    feeds = dict(zip(names, [prompt.numpy(), np.arange(n, dtype=np.int64), *kv]))
    logits, *kv = prefill.run(None, feeds)
    tokens = [int(logits[0].argmax())]
    times = [time.perf_counter()]
    for pos in range(n, n + new_tokens - 1):
        ids = np.array([[tokens[-1]]], dtype=np.int64)
        feeds = dict(zip(names, [ids, np.array([pos], dtype=np.int64), *kv]))
        logits, *kv = decode.run(None, feeds)
        tokens.append(int(logits[0].argmax()))
        times.append(time.perf_counter())
    return tokens, times[0] - t0, per_token(times)


def measure(name: str, system: str, runs: int, prompt_len: int, new_tokens: int) -> dict:
    """One system on one model, in this process."""
    m = model(name)
    prompt = torch.randint(1, m.config.vocab_size, (1, prompt_len), generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    if system == "onnxruntime":
        sessions, names = ort_sessions(m, prompt_len, prompt_len + new_tokens)

        def once():
            return ort_generate(sessions, names, m, prompt, new_tokens)
    else:
        cache = None

        def once():
            nonlocal cache
            tokens, pre, dec, cache = hf_generate(m, system, prompt, new_tokens, cache)
            return tokens, pre, dec

    tokens, _, _ = once()
    first = time.perf_counter() - t0
    results = [once() for _ in range(runs)]
    result = {
        "model": name,
        "system": system,
        "prefill_ms": statistics.median(r[1] for r in results) * 1e3,
        "decode_ms_per_token": statistics.median(r[2] for r in results) * 1e3,
        "decode_tokens_per_s": statistics.median(1.0 / r[2] for r in results),
        "first_call_s": first,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tokens": tokens,
        "same_tokens_every_run": all(r[0] == tokens for r in results),
    }
    if system in LOOP_SYSTEMS:
        bare_loop(m, system, prompt, new_tokens, cache)  # compiles the loop's graph
        loops = [bare_loop(m, system, prompt, new_tokens, cache) for _ in range(runs)]
        result["loop_ms_per_token"] = statistics.median(r[1] for r in loops) * 1e3
        result["loop_same_tokens"] = all(r[0] == tokens for r in loops)
    if system == "tt":
        from torch._dynamo.utils import counters

        result["dynamo_graphs"] = counters["stats"]["unique_graphs"]
    return result


def run_process(name: str, system: str, args, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--one", name, system]
    cmd += ["--runs", str(args.runs), "--prompt", str(args.prompt), "--new-tokens", str(args.new_tokens)]
    return cold_process(cmd, timeout)


def combine(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    out = dict(ok[0])
    for key in ("prefill_ms", "decode_ms_per_token", "decode_tokens_per_s", "first_call_s"):
        out[key] = statistics.median(r[key] for r in ok)
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
    loops = [r["loop_ms_per_token"] for r in ok if "loop_ms_per_token" in r]
    if loops:
        out["loop_ms_per_token"] = statistics.median(loops)
    out["decode_spread"] = (min(r["decode_tokens_per_s"] for r in ok), max(r["decode_tokens_per_s"] for r in ok))
    return out


def table(results: dict, models: list[str]) -> str:
    lines = [
        "| model | system | prefill ms | decode tokens/s (min-max) | decode ms/token | first call s | peak MB "
        "| tokens = eager's | tt-torch decode tokens/s / system |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in models:
        tt, eager = results[name].get("tt", {}), results[name].get("eager", {})
        for s in SYSTEMS:
            r = results[name][s]
            if "error" in r:
                lines.append(f"| {name} | {s} | {r['error']} | | | | | | |")
                continue
            ratio = (
                f"{tt['decode_tokens_per_s'] / r['decode_tokens_per_s']:.2f}"
                if "decode_tokens_per_s" in tt and s != "tt"
                else ""
            )
            same = "yes" if r.get("tokens") == eager.get("tokens") else "no"
            lo, hi = r["decode_spread"]
            lines.append(
                f"| {name} | {s} | {r['prefill_ms']:.1f} | {r['decode_tokens_per_s']:.1f} ({lo:.1f}-{hi:.1f}) | "
                f"{r['decode_ms_per_token']:.2f} | {r['first_call_s']:.1f} | {r['peak_rss_mb']:.0f} | {same} | {ratio} |"
            )
    return "\n".join(lines)


def loop_table(results: dict, models: list[str]) -> str:
    """Every system's decode step in ONNX Runtime's loop shape (bare_loop), beside its
    generate() time: what the harness adds per token. Not the acceptance comparison above."""
    lines = [
        "| model | system | decode ms/token, bare loop | tokens/s, bare loop | generate() ms/token | "
        "generate() adds ms/token | tt-torch bare-loop tokens/s / system's |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in models:
        rows = {}
        for s in ("eager", "tt", "onnxruntime"):
            r = results[name].get(s, {})
            if "decode_ms_per_token" not in r:
                continue
            # ONNX Runtime's numbers are its bare loop already
            loop = r["decode_ms_per_token"] if s == "onnxruntime" else r.get("loop_ms_per_token")
            if loop is not None:
                rows[s] = (loop, r["decode_ms_per_token"])
        tt = rows.get("tt", (None,))[0]
        for s, (loop, gen) in rows.items():
            adds = "" if s == "onnxruntime" else f"{gen - loop:.2f}"
            ratio = f"{loop / tt:.2f}" if tt and s != "tt" else ""
            label = "tt (bare loop)" if s == "tt" else f"{s} (bare loop)" if s == "eager" else s
            lines.append(f"| {name} | {label} | {loop:.2f} | {1e3 / loop:.1f} | {gen:.2f} | {adds} | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--rounds", type=int, default=2, help="processes per (model, system)")
    parser.add_argument("--runs", type=int, default=5, help="timed generate() calls per process, after a first one")
    parser.add_argument("--prompt", type=int, default=32, help="prompt tokens")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "SYSTEM"), help="measure one system in this process")
    parser.add_argument("--out", help="folder for generation.md/.json (default: a new temporary folder)")
    args = parser.parse_args()
    if args.one:
        name, system = args.one
        if name not in MODELS or system not in SYSTEMS:
            raise SystemExit(f"--one MODEL SYSTEM: models {', '.join(MODELS)}; systems {', '.join(SYSTEMS)}")
        print(json.dumps(measure(name, system, args.runs, args.prompt, args.new_tokens)))
        return 0

    args.out = args.out or tempfile.mkdtemp(prefix="tt_torch_generate_")
    systems = [s for s in SYSTEMS if s in args.systems]
    runs: dict = {m: {s: [] for s in SYSTEMS} for m in args.models}
    for rnd in range(args.rounds):
        order = systems if rnd % 2 == 0 else list(reversed(systems))
        for name in args.models:
            for s in order:
                r = run_process(name, s, args, args.timeout)
                runs[name][s].append(r)
                print(f"round {rnd} {name:6s} {s:12s} {r.get('decode_tokens_per_s', r.get('error'))}", flush=True)
    results = {
        m: {s: combine(runs[m][s]) if runs[m][s] else {"error": "not run"} for s in SYSTEMS} for m in args.models
    }
    os.makedirs(args.out, exist_ok=True)
    cpu = platform.processor() or platform.machine()
    header = (
        f"# Generation: decode tokens/s\n\n`python benchmarks/generate.py {' '.join(sys.argv[1:])}` on "
        f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__}; {args.rounds} processes per system x "
        f"{args.runs} generate() calls, prompt {args.prompt} tokens, {args.new_tokens} new tokens, greedy, "
        "batch 1, fp32. Ratio > 1: tt-torch decodes faster than that system.\n\n"
    )
    text = header + table(results, args.models) + "\n"
    loops = loop_table(results, args.models)
    if loops.count("\n") > 1:
        text += (
            "\nThe decode step in ONNX Runtime's loop shape (a bare Python greedy loop calling the model "
            "on one token; for tt-torch the compiled step generate() uses, over the same static cache): "
            "what generate() adds per token. Not the comparison above.\n\n" + loops + "\n"
        )
    with open(os.path.join(args.out, "generation.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "generation.json"), "w") as f:
        json.dump({"runs": runs, "results": results}, f, indent=1)
    print(text)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
