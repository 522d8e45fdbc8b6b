#!/usr/bin/env python3
"""PyTorch yardstick for our benchmarks: the same matmul shapes and the same GPT-2 training steps, timed
in PyTorch, with the ratio ours / torch next to each of our figures.

    torch_yardstick.py RESULTS_DIR [--repeats N] [--train-repeats N] [--reuse OLD_yardstick.json]

Reads RESULTS_DIR/yardstick-spec.json (written by `GtaIlgpu.Benchmarks yardstick-spec`, so the shapes are
defined once, in the benchmarks) and, where present, our RESULTS_DIR/kernels.json and e2e.json; writes
RESULTS_DIR/yardstick.json and yardstick.md (atomically). Runs on the CPU always and on CUDA when torch
sees a GPU. fp32 throughout: TF32 is switched off, so torch's matmul is a true fp32 cuBLAS SGEMM.
Without torch it says so, writes a yardstick.md saying so, and exits 0 (the GPU check goes on).
--reuse takes the torch timings from an earlier yardstick.json (no torch needed) and only re-reads ours.
Standard library only, besides torch.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

MATMUL_NOTE = ("forward: torch.matmul(input, weight.t(), out=output) (no bias, as our cuBLAS rows); backward: "
               "dinput.addmm_(doutput, weight) and dweight.addmm_(doutput.t(), input) (two GEMMs accumulating, "
               "no dbias)")
TRAIN_NOTE = ("our GPT-2 written in torch (pre-LayerNorm blocks, tanh GELU, tied LM head, "
              "F.scaled_dot_product_attention with is_causal, PyTorch's choice of kernel); forward, "
              "F.cross_entropy over every position, backward, clip_grad_norm_(1.0), torch.optim.AdamW "
              "(lr 1e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1, PyTorch's default implementation)")


def write_atomically(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    with os.fdopen(handle, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


def load_json(path, what, consequence):
    """The parsed file, or None (with a line saying why and what follows) when it is absent or unreadable."""
    if not os.path.exists(path):
        print(f"torch yardstick: no {what} ({path}): {consequence}")
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"torch yardstick: {path} is not readable JSON ({e}): {consequence}")
        return None


def our_rows(run):
    """name -> result of one of our results files (kernels.json, e2e.json)."""
    return {r["name"]: r for r in (run or {}).get("results", []) if "name" in r}


# ---------------------------------------------------------------- measuring (needs torch)

def measure(spec, devices, repeats, train_repeats):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    # A true fp32 yardstick: no TF32 in matmuls or convolutions.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")

    def median_seconds(fn, device, warmup, count):
        for _ in range(warmup):
            fn()
        times = []
        if device == "cuda":
            torch.cuda.synchronize()
            for _ in range(count):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1e3)  # ms -> s
        else:
            for _ in range(count):
                begin = time.perf_counter()
                fn()
                times.append(time.perf_counter() - begin)
        return statistics.median(times)

    class Block(nn.Module):
        def __init__(self, channels, heads):
            super().__init__()
            self.heads = heads
            self.ln1, self.ln2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
            self.qkv, self.proj = nn.Linear(channels, 3 * channels), nn.Linear(channels, channels)
            self.fc, self.fcproj = nn.Linear(channels, 4 * channels), nn.Linear(4 * channels, channels)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2)
                       for z in self.qkv(self.ln1(x)).split(c, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
            return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class Gpt(nn.Module):
        def __init__(self, layers, channels, heads, vocab, window):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, channels), nn.Embedding(window, channels)
            self.blocks = nn.ModuleList(Block(channels, heads) for _ in range(layers))
            self.lnf = nn.LayerNorm(channels)

        def forward(self, tokens):
            positions = torch.arange(tokens.shape[1], device=tokens.device)
            x = self.wte(tokens) + self.wpe(positions)
            for block in self.blocks:
                x = block(x)
            return self.lnf(x) @ self.wte.weight.t()  # tied head

    generator = torch.Generator().manual_seed(1234)
    matmuls, trains = [], []
    for device in devices:
        for s in (m for m in spec["matmulShapes"] if m["device"] == device):
            m, k, oc = s["m"], s["k"], s["oc"]
            def rand(*shape, scale=1.0):
                return ((torch.rand(*shape, generator=generator) * 2 - 1) * scale).to(device)
            x, w, out = rand(m, k), rand(oc, k, scale=0.05), rand(m, oc)
            dout, dx, dw = rand(m, oc, scale=1e-4), rand(m, k, scale=0.01), rand(oc, k, scale=0.01)
            def forward():
                torch.matmul(x, w.t(), out=out)
            def backward():
                dx.addmm_(dout, w)
                dw.addmm_(dout.t(), x)
            for op, fn, row, flops in (("forward", forward, s["forwardRow"], 2.0 * m * k * oc),
                                       ("backward", backward, s["backwardRow"], 4.0 * m * k * oc)):
                seconds = median_seconds(fn, device, warmup=max(3, repeats // 5), count=repeats)
                matmuls.append({"device": device, "shape": s["shape"], "detail": s["detail"], "op": op,
                                "m": m, "k": k, "oc": oc, "flops": flops, "torchSeconds": seconds, "row": row})
                print(f"torch yardstick: {device} {s['shape']} {s['detail']} {op} {m}x{k}x{oc}: "
                      f"{seconds * 1e6:.1f} us, {flops / seconds / 1e9:.1f} GFLOP/s")
            del x, w, out, dout, dx, dw
        for c in (t for t in spec["trainConfigs"] if t["device"] == device):
            torch.manual_seed(1337)
            model = Gpt(c["layers"], c["channels"], c["heads"], c["vocab"], c["sequence"]).to(device)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
            shape = (c["batch"], c["sequence"])
            tokens = torch.randint(0, c["vocab"], shape, generator=generator).to(device)
            targets = torch.randint(0, c["vocab"], shape, generator=generator).to(device)
            def step():
                optimizer.zero_grad(set_to_none=True)
                logits = model(tokens)
                loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
            seconds = median_seconds(step, device, warmup=3, count=train_repeats)
            tokens_per_second = c["batch"] * c["sequence"] / seconds
            trains.append({"device": device, "config": c["config"], "batch": c["batch"], "sequence": c["sequence"],
                           "flopsPerToken": c["flopsPerToken"], "torchStepSeconds": seconds, "row": c["row"]})
            print(f"torch yardstick: {device} {c['config']} train step B={c['batch']} T={c['sequence']}: "
                  f"{seconds * 1e3:.1f} ms, {tokens_per_second:.0f} tokens/s")
            del model, optimizer
            if device == "cuda":
                torch.cuda.empty_cache()
    gpu = torch.cuda.get_device_name(0) if "cuda" in devices else None
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": gpu, "devices": devices,
            "tf32": False, "matmulPrecision": torch.get_float32_matmul_precision(),
            "cpuThreads": torch.get_num_threads(), "matmul": matmuls, "train": trains}


# ---------------------------------------------------------------- report (no torch needed)

def ratio(ours_seconds, torch_seconds):
    """ours / torch as throughput: > 1 means we are faster."""
    if not ours_seconds or not torch_seconds:
        return None
    return torch_seconds / ours_seconds


def report(measured, kernels, e2e):
    """Adds our figures and the ratios to the torch timings; returns (json object, Markdown)."""
    ours_kernels, ours_e2e = our_rows(kernels), our_rows(e2e)
    matmuls, trains = [], []
    for r in measured["matmul"]:
        ours = ours_kernels.get(r["row"])
        ours_seconds = ours["timeNs"] / 1e9 if ours and ours.get("timeNs") else None
        matmuls.append(dict(r, torchGflops=r["flops"] / r["torchSeconds"] / 1e9,
                            oursSeconds=ours_seconds, oursGflops=r["flops"] / ours_seconds / 1e9 if ours_seconds else None,
                            oursOverTorch=ratio(ours_seconds, r["torchSeconds"])))
    for r in measured["train"]:
        ours = ours_e2e.get(r["row"])
        ours_seconds = ours["timeNs"] / 1e9 if ours and ours.get("timeNs") else None
        tokens = r["batch"] * r["sequence"]
        trains.append(dict(r, torchTokensPerSecond=tokens / r["torchStepSeconds"],
                           oursStepSeconds=ours_seconds, oursTokensPerSecond=tokens / ours_seconds if ours_seconds else None,
                           oursOverTorch=ratio(ours_seconds, r["torchStepSeconds"])))
    result = {key: value for key, value in measured.items() if key not in ("matmul", "train")}
    result.update({"timing": "CUDA events around each call on the GPU, perf_counter on the CPU; warm-up, then the median",
                   "matmulNote": MATMUL_NOTE, "trainNote": TRAIN_NOTE,
                   "ratio": "ours / torch in throughput (torch time / our time): above 1 we are faster",
                   "oursCommit": {"kernels": (kernels or {}).get("commit"), "e2e": (e2e or {}).get("commit")},
                   "matmul": matmuls, "train": trains})

    def fmt(value, pattern):
        return pattern.format(value) if value is not None else "—"

    md = ["# PyTorch yardstick", "",
          f"- torch {measured['torch']}" + (f" (CUDA {measured['cuda']})" if measured.get("cuda") else "")
          + f", devices: {', '.join(measured['devices'])}"
          + (f", GPU: {measured['gpu']}" if measured.get("gpu") else "") + f", CPU threads {measured.get('cpuThreads')}",
          "- fp32 throughout: TF32 off (torch.backends.cuda.matmul.allow_tf32 = False, matmul precision "
          f"'{measured.get('matmulPrecision')}'), so torch's matmul is a true fp32 cuBLAS SGEMM",
          f"- timing: {result['timing']}",
          f"- matmul: {MATMUL_NOTE}", f"- train: {TRAIN_NOTE}",
          "- **ours / torch** is throughput: above 1 we are faster. Ours are BenchmarkDotNet means of one call plus "
          "a synchronize (host overhead included), torch's are device times, so small shapes flatter torch", ""]
    if not any(m["device"] == "cuda" for m in matmuls):
        md += ["No GPU was visible to torch: CPU rows only.", ""]
    md += ["| device | shape | matmul | M×K×OC | torch | torch GFLOP/s | ours GFLOP/s | ours / torch |",
           "|---|---|---|---|---:|---:|---:|---:|"]
    for m in matmuls:
        md.append(f"| {m['device']} | {m['shape']} | {m['detail']} {m['op']} | {m['m']}×{m['k']}×{m['oc']} "
                  f"| {m['torchSeconds'] * 1e6:.1f} µs | {m['torchGflops']:.1f} | {fmt(m['oursGflops'], '{:.1f}')} "
                  f"| {fmt(m['oursOverTorch'], '{:.2f}')} |")
    md += ["", "| device | config | B×T | torch step | torch tokens/s | ours tokens/s | ours / torch |",
           "|---|---|---|---:|---:|---:|---:|"]
    for t in trains:
        md.append(f"| {t['device']} | {t['config']} | {t['batch']}×{t['sequence']} | {t['torchStepSeconds'] * 1e3:.1f} ms "
                  f"| {t['torchTokensPerSecond']:.0f} | {fmt(t['oursTokensPerSecond'], '{:.0f}')} | {fmt(t['oursOverTorch'], '{:.2f}')} |")
    missing = sum(1 for r in matmuls + trains if r["oursOverTorch"] is None)
    if missing:
        md += ["", f"{missing} rows have no figure of ours (that suite, shape or device was not run): their ratio reads —."]
    return result, "\n".join(md) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="folder with yardstick-spec.json (and our kernels.json, e2e.json); outputs go here")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per matmul row (median)")
    parser.add_argument("--train-repeats", type=int, default=10, help="timed training steps per config (median)")
    parser.add_argument("--reuse", help="take the torch timings from this earlier yardstick.json instead of measuring")
    parser.add_argument("--devices", default="auto", help="auto (cpu, plus cuda when torch sees a GPU), cpu, or cpu,cuda")
    args = parser.parse_args()
    if args.repeats < 1 or args.train_repeats < 1:
        parser.error("--repeats and --train-repeats must be at least 1")
    results = args.results
    md_path, json_path = os.path.join(results, "yardstick.md"), os.path.join(results, "yardstick.json")

    if args.reuse:
        previous = load_json(args.reuse, "earlier yardstick", "nothing to reuse")
        if previous is None:
            return 2
        measured = previous
    else:
        spec = load_json(os.path.join(results, "yardstick-spec.json"), "yardstick spec",
                         "nothing to time (write it with: GtaIlgpu.Benchmarks yardstick-spec --results DIR)")
        if spec is None:
            return 2
        try:
            import torch
        except ImportError as e:
            message = f"torch yardstick skipped: python3 cannot import torch ({e})"
            print(message)
            write_atomically(md_path, f"# PyTorch yardstick\n\n{message}.\n")
            return 0
        if args.devices == "auto":
            devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
            if "cuda" not in devices:
                print("torch yardstick: torch sees no GPU (torch.cuda.is_available() is False): CPU rows only")
        else:
            devices = [d.strip() for d in args.devices.split(",") if d.strip()]
            if "cuda" in devices and not torch.cuda.is_available():
                print("torch yardstick: --devices names cuda, but torch sees no GPU")
                return 2
        measured = measure(spec, devices, args.repeats, args.train_repeats)

    kernels = load_json(os.path.join(results, "kernels.json"), "kernels results of ours", "the matmul ratios stay empty")
    e2e = load_json(os.path.join(results, "e2e.json"), "end-to-end results of ours", "the training ratios stay empty")
    result, md = report(measured, kernels, e2e)
    write_atomically(json_path, json.dumps(result, indent=2) + "\n")
    write_atomically(md_path, md)
    print(f"torch yardstick: {json_path} and yardstick.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
