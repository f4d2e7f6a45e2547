"""PyTorch peer for bench/network.ts: one training step of the same convnet, one thread.

Reads {"cases": [{"id", "dtype", "N", "C", "H", "W", "filters", "size", "hidden", "classes"}], "budget": {...}, "rounds": R}
on stdin (each case timed R times, keeping the lowest median); prints {"info": [...], "samples": [{"id", "dtype", "ms", "reps"}]} on stdout.
A step is what the service's step with update does: forward, softmax cross-entropy plus L2 on the
weights, backward through autograd, torch.optim.Adam's step (zero_grad first). Run with Debian's
python: /usr/bin/python3 (apt-get install python3-torch).
"""
import json
import sys

import torch
import torch.nn.functional as F

from torch_bench import measure  # the same timing rules as the layer peers (bench/lib/measure.ts)


def step_fn(c):
    dtype = torch.float32 if c["dtype"] == "float32" else torch.float64
    g = torch.Generator().manual_seed(0)
    pad = c["size"] // 2
    pooled = c["filters"] * (c["H"] // 2) * (c["W"] // 2)
    w1 = (torch.randn(c["filters"], c["C"], c["size"], c["size"], generator=g, dtype=dtype) * 0.1).requires_grad_()
    b1 = torch.zeros(c["filters"], dtype=dtype, requires_grad=True)
    w2 = (torch.randn(pooled, c["hidden"], generator=g, dtype=dtype) * 0.05).requires_grad_()
    b2 = torch.zeros(c["hidden"], dtype=dtype, requires_grad=True)
    w3 = (torch.randn(c["hidden"], c["classes"], generator=g, dtype=dtype) * 0.1).requires_grad_()
    b3 = torch.zeros(c["classes"], dtype=dtype, requires_grad=True)
    x = torch.randn(c["N"], c["C"], c["H"], c["W"], generator=g, dtype=dtype)
    y = torch.randint(0, c["classes"], (c["N"],), generator=g)
    opt = torch.optim.Adam([w1, b1, w2, b2, w3, b3], lr=1e-3)
    reg = 1e-3

    def step():
        opt.zero_grad()
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=pad)), 2)
        h = F.relu(h.reshape(c["N"], -1) @ w2 + b2)
        scores = h @ w3 + b3
        loss = F.cross_entropy(scores, y) + 0.5 * reg * ((w1 * w1).sum() + (w2 * w2).sum() + (w3 * w3).sum())
        loss.backward()
        opt.step()
        return loss.item()

    return step


def main():
    req = json.load(sys.stdin)
    torch.set_num_threads(1)
    info = [f"torch {torch.__version__}, {torch.get_num_threads()} thread"]
    samples = []
    for c in req["cases"]:
        fn = step_fn(c)
        ms, reps = min(measure(fn, req["budget"]) for _ in range(req.get("rounds", 1)))
        samples.append({"id": c["id"], "dtype": c["dtype"], "ms": ms, "reps": reps})
        print(f"torch {c['id']} {c['dtype']}: {ms:.3f} ms", file=sys.stderr, flush=True)
    json.dump({"info": info, "samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
