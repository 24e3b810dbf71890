#!/usr/bin/env python3
"""PyTorch eager (CPU, f32) on the nabla benchmark workloads W0-W5 (see WORKLOADS.md).

One workload/variant per process. Prints one JSON line in the peers.jsonl format on stdout;
diagnostics (checks, losses, step counts) go to stderr.

    python pytorch_eager.py --workload W1 --variant sgd --threads 2 --seconds 10
    python pytorch_eager.py --workload W3 --variant sgd --channels-last

The data and the timing follow nabla's xtask (xtask/src/workloads/training.rs, measure.rs):
- inputs N(0,1) f32 (W0: uniform [-1,1)), seed 0; training cycles through 4 input batches, each
  seen with 2 independently drawn label sets on alternate rounds (8 entries), so that the loss
  cannot collapse and values do not drift into denormals; token workloads (W4, W5) read ids
  uniform over the vocabulary, the first label set being the real next tokens;
  inference cycles through 4 input batches;
- before timing, a fresh model takes 5 steps on one batch and must lower the loss (training),
  or the no-grad output must be finite and equal the grad-mode output (inference);
- warm-up: max(2 steps, 0.2 * seconds); then timed steps until `seconds` have passed and at
  least 5 steps were taken; each step timed alone with time.perf_counter(); the figure is
  work / median step time (nearest-rank median, as nabla's measure.rs).
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import torch

IMPORT_RSS_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # after `import torch`

import torch.nn as nn
import torch.nn.functional as F

SEED = 0
ROTATION = 4
CHECK_STEPS = 5
WARM_UP_SHARE = 0.2
WARM_UP_STEPS = 2
MIN_STEPS = 5


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

def mlp():
    """W1/W1i: 784-512-512-10, ReLU (PyTorch's default Linear init)."""
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 512), nn.ReLU(),
        nn.Linear(512, 10),
    )


def cnn():
    """W2/W2i: conv3x3(32)+ReLU, maxpool2, conv3x3(64)+ReLU, maxpool2, dense 128+ReLU, dense 10.
    Convolutions unpadded, with bias."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            # Projection shortcut ("option B"): 1x1 conv (stride 2) + BN.
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """W3: CIFAR ResNet-20, 3 stages x 3 basic blocks at 16/32/64, projection shortcuts."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for b in range(3):
                blocks.append(BasicBlock(cin, width, stride if b == 0 else 1))
                cin = width
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")  # He-normal

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class CharLM(nn.Module):
    """W4: embedding 65->64, 1-layer LSTM 256 (batch_first), dense 256->65 with bias."""

    def __init__(self, vocab=65, embedding=64, hidden=256):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding)
        self.rnn = nn.LSTM(embedding, hidden, num_layers=1, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids):
        h, _ = self.rnn(self.embedding(ids))
        return self.head(h).reshape(-1, self.head.out_features)


class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)  # query, key and value projections (fused), with biases
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.gelu = nn.GELU()  # exact (erf)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(self.gelu(self.fc1(self.ln2(x))))


class GPT(nn.Module):
    """W5: vocab 65, context 128, d_model 128, 4 heads, 2 pre-LN blocks, learned positions,
    final LayerNorm, untied head without bias, no dropout, GPT-2 initialisation."""

    def __init__(self, vocab=65, context=128, d=128, heads=4, blocks=2):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.position_embedding = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(blocks))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.register_buffer("positions", torch.arange(context), persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        for blk in self.blocks:  # residual projections scaled as in GPT-2
            nn.init.normal_(blk.attn.proj.weight, 0.0, 0.02 / math.sqrt(2 * blocks))
            nn.init.normal_(blk.fc2.weight, 0.0, 0.02 / math.sqrt(2 * blocks))

    def forward(self, ids):
        t = ids.shape[1]
        x = self.token_embedding(ids) + self.position_embedding(self.positions[:t])
        for blk in self.blocks:
            x = blk(x)
        logits = self.lm_head(self.ln_f(x))
        return logits.reshape(-1, logits.shape[-1])


# name: (model factory, parameter count, input kind, sample shape, classes)
CASES = {
    "W1": (mlp, 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10, "normal", (784,), 10),
    "W2": (cnn, (32 * 9 + 32) + (64 * 32 * 9 + 64) + (1600 * 128 + 128) + (128 * 10 + 10), "normal", (1, 28, 28), 10),
    "W3": (ResNet20, 272_474, "normal", (3, 32, 32), 10),
    "W4": (CharLM, 350_593, "tokens", (64,), 65),
    "W5": (GPT, 429_824, "tokens", (128,), 65),
}
CASES["W1i"] = CASES["W1"]
CASES["W2i"] = CASES["W2"]

# workload: {variant: (kind, batch, optimizer factory or None)}
VARIANTS = {
    "W1": {"sgd": ("train", 128, lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)),
           "adam": ("train", 128, lambda p: torch.optim.Adam(p, lr=1e-3))},
    "W1i": {"infer": ("infer", 256, None)},
    "W2": {"adam": ("train", 64, lambda p: torch.optim.Adam(p, lr=1e-3))},
    "W2i": {"infer": ("infer", 256, None)},
    "W3": {"sgd": ("train", 32, lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9))},
    "W4": {"adam": ("train", 32, lambda p: torch.optim.Adam(p, lr=1e-3))},
    "W5": {"adamw": ("train", 16, lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01))},
}
CNN_WORKLOADS = {"W2", "W2i", "W3"}


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def make_batches(count, size, kind, sample, classes, gen, channels_last):
    """`count` (inputs, labels) pairs: N(0,1) inputs with uniform labels, or token ids with
    their next tokens as labels."""
    out = []
    for _ in range(count):
        if kind == "normal":
            x = torch.randn((size,) + tuple(sample), generator=gen, dtype=torch.float32)
            if channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            y = torch.randint(0, classes, (size,), generator=gen)
        else:
            t = sample[0]
            ids = torch.randint(0, classes, (size, t + 1), generator=gen)
            x = ids[:, :t].contiguous()
            y = ids[:, 1:].reshape(-1).contiguous()
        out.append((x, y))
    return out


def relabelled_batches(size, kind, sample, classes, gen, channels_last):
    """4 input batches, each listed twice with independently drawn labels (8 entries)."""
    first = make_batches(ROTATION, size, kind, sample, classes, gen, channels_last)
    second = [(x, torch.randint(0, classes, y.shape, generator=gen)) for x, y in first]
    differ = sum(int((a[1] != b[1]).sum()) for a, b in zip(first, second))
    bound = math.log(2) * differ / sum(y.numel() for _, y in first)
    return first + second, bound


# ---------------------------------------------------------------------------------------------
# Steps, checks, timing
# ---------------------------------------------------------------------------------------------

def build(workload, channels_last):
    factory, parameters, *_ = CASES[workload]
    model = factory()
    n = sum(p.numel() for p in model.parameters())
    if n != parameters:
        raise SystemExit(f"{workload}: model has {n} parameters, the workload's network has {parameters}")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def train_step(model, optimizer, x, y):
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def check_training(workload, size, make_opt, channels_last):
    _, _, kind, sample, classes = CASES[workload]
    torch.manual_seed(SEED)
    model = build(workload, channels_last)
    model.train()
    gen = torch.Generator().manual_seed(SEED)
    x, y = make_batches(1, size, kind, sample, classes, gen, channels_last)[0]
    logits = model(x)
    expected = (y.numel(), classes)
    if tuple(logits.shape) != expected:
        raise SystemExit(f"{workload}: logits shape {tuple(logits.shape)}, expected {expected}")
    F.cross_entropy(logits, y).backward()
    for name, p in model.named_parameters():
        if p.grad is None or not torch.isfinite(p.grad).all():
            raise SystemExit(f"{workload}: parameter {name} got no finite gradient")
    opt = make_opt(model.parameters())
    losses = [train_step(model, opt, x, y) for _ in range(CHECK_STEPS)]
    if not all(math.isfinite(v) for v in losses) or losses[-1] >= losses[0]:
        raise SystemExit(f"{workload}: {CHECK_STEPS} steps on one batch did not lower the loss: {losses}")
    return losses


def check_inference(workload, size, channels_last):
    _, _, kind, sample, classes = CASES[workload]
    torch.manual_seed(SEED)
    model = build(workload, channels_last).eval()
    gen = torch.Generator().manual_seed(SEED)
    x, _ = make_batches(1, size, kind, sample, classes, gen, channels_last)[0]
    with torch.no_grad():
        out = model(x)
    taped = model(x).detach()
    if tuple(out.shape) != (size, classes) or out.requires_grad or not torch.isfinite(out).all():
        raise SystemExit(f"{workload}: bad inference output {tuple(out.shape)}")
    scale = max(1.0, float(taped.abs().max()))
    if float((out - taped).abs().max()) > 1e-5 * scale:
        raise SystemExit(f"{workload}: no_grad and grad-mode outputs differ")


def measure(step, seconds, steps=None):
    """Warm-up, then per-step timings; returns (median, q1, q3, timed steps)."""
    if steps is not None:  # smoke-test mode: fixed step counts
        for _ in range(WARM_UP_STEPS):
            step()
        times = []
        for _ in range(max(1, steps)):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
    else:
        start, warm = time.perf_counter(), 0
        while warm < WARM_UP_STEPS or time.perf_counter() - start < WARM_UP_SHARE * seconds:
            step()
            warm += 1
        times, start = [], time.perf_counter()
        while len(times) < MIN_STEPS or time.perf_counter() - start < seconds:
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
    times.sort()
    at = lambda q: times[int(math.floor((len(times) - 1) * q + 0.5))]  # nearest rank
    return at(0.5), at(0.25), at(0.75), len(times)


def run_w0(variant, args):
    n = int(variant[1:])
    gen = torch.Generator().manual_seed(SEED)
    a = torch.rand((n, n), generator=gen) * 2 - 1
    b = torch.rand((n, n), generator=gen) * 2 - 1
    c = torch.matmul(a, b)
    a64, b64 = a.double(), b.double()
    tol = 1e-6 * n + 1e-4
    for i, j in [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1), (n // 2, n // 3), (n // 3, n // 2 + 1)]:
        exact = float(a64[i] @ b64[:, j])
        if abs(float(c[i, j]) - exact) > tol:
            raise SystemExit(f"W0 n{n}: wrong product at [{i},{j}]: {float(c[i, j])} vs {exact}")
    del c, a64, b64
    med, q1, q3, steps = measure(lambda: torch.matmul(a, b), args.seconds, args.steps)
    log(f"W0 n{n}: {steps} timed steps, median {med * 1e3:.3f} ms, spread ±{50 * (q3 - q1) / med:.1f}%")
    return "gflops", 2.0 * n ** 3 / 1e9 / med


def run_model(workload, variant, args):
    kind_step, size, make_opt = VARIANTS[workload][variant]
    _, _, kind, sample, classes = CASES[workload]
    cl = args.channels_last
    work = size * (sample[0] if kind == "tokens" else 1)
    metric = "tokens_per_s" if kind == "tokens" else "samples_per_s"

    if kind_step == "train":
        check = check_training(workload, size, make_opt, cl)
        torch.manual_seed(SEED)
        model = build(workload, cl).train()
        gen = torch.Generator().manual_seed(SEED)
        data, bound = relabelled_batches(size, kind, sample, classes, gen, cl)
        opt = make_opt(model.parameters())
        cycle = len(data)
        first, latest, count = [math.nan] * cycle, [math.nan] * cycle, [0]

        def step():
            k = count[0]
            x, y = data[k % cycle]
            loss = train_step(model, opt, x, y)
            if not math.isfinite(loss):
                raise SystemExit(f"{workload} {variant}: loss became {loss} at step {k}")
            if k < cycle:
                first[k] = loss
            latest[k % cycle] = loss
            count[0] += 1

        med, q1, q3, steps = measure(step, args.seconds, args.steps)
        mean = lambda v: sum(z for z in v if not math.isnan(z)) / max(1, sum(not math.isnan(z) for z in v))
        log(f"{workload} {variant}: check loss {check[0]:.3f} -> {check[-1]:.3f} in {CHECK_STEPS} steps; "
            f"then {count[0]} steps, mean loss {mean(first):.3f} (first {cycle}) -> {mean(latest):.3f} "
            f"(last {cycle}), floor {bound:.3f}; {steps} timed, median {med * 1e3:.3f} ms, "
            f"spread ±{50 * (q3 - q1) / med:.1f}%")
    else:
        check_inference(workload, size, cl)
        torch.manual_seed(SEED)
        model = build(workload, cl).eval()
        gen = torch.Generator().manual_seed(SEED)
        data = make_batches(ROTATION, size, kind, sample, classes, gen, cl)
        count = [0]

        def step():
            with torch.no_grad():
                model(data[count[0] % ROTATION][0])
            count[0] += 1

        med, q1, q3, steps = measure(step, args.seconds, args.steps)
        log(f"{workload} {variant}: {steps} timed, median {med * 1e3:.3f} ms, spread ±{50 * (q3 - q1) / med:.1f}%")
    return metric, work / med


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", required=True, choices=["W0"] + list(VARIANTS))
    ap.add_argument("--variant", help="W0: n256/n512/n1024/n2048; W1: sgd/adam; otherwise the only one")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--seconds", type=float, default=10.0, help="timed seconds (warm-up is 0.2x more)")
    ap.add_argument("--steps", type=int, help="smoke test: 2 warm-up + this many timed steps, ignores --seconds")
    ap.add_argument("--channels-last", action="store_true", help="W2/W2i/W3: channels_last model and inputs")
    ap.add_argument("--flush-denormals", action="store_true", help="torch.set_flush_denormal(True)")
    ap.add_argument("--clean", default="true", choices=["true", "false"],
                    help="value of the record's `clean` field (false if the machine was busy)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    if args.flush_denormals:
        torch.set_flush_denormal(True)
    if args.channels_last and args.workload not in CNN_WORKLOADS:
        ap.error("--channels-last is for W2, W2i and W3 only")
    for var in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        if var not in os.environ:
            log(f"note: {var} is not set (the peer figures were taken with it; see run_all.sh)")

    wl = args.workload
    if wl == "W0":
        variant = args.variant or "n1024"
        if not (variant.startswith("n") and variant[1:].isdigit()):
            ap.error("W0 variant is n<size>, e.g. n1024")
        metric, value = run_w0(variant, args)
    else:
        variants = VARIANTS[wl]
        variant = args.variant or (next(iter(variants)) if len(variants) == 1 else None)
        if variant not in variants:
            ap.error(f"{wl} variants: {', '.join(variants)}")
        metric, value = run_model(wl, variant, args)

    record = {
        "framework": "pytorch-eager_channels_last" if args.channels_last else "pytorch-eager",
        "version": torch.__version__,
        "workload": wl,
        "variant": variant,
        "metric": metric,
        "value": round(value, 2),
        "threads": torch.get_num_threads(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "clean": args.clean == "true",
        "build": None,
    }
    log(f"peak RSS {record['peak_rss_mb']} MB, of which {IMPORT_RSS_MB:.1f} MB was reached by `import torch` alone")
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
