"""PyTorch peer for bench/conv-efficiency.ts: conv2d on shapes with any stride, pad, dilation and groups.

Reads {"cases": [{"id", "x", "w", "stride", "pad", "dilation", "groups"}], "dtypes": [...], "minReps": n,
"budgetMs": ms} as JSON on stdin, prints {"info": "...", "samples": [{"id", "dtype", "pass", "ms"}]} on
stdout. One thread; forward under no_grad, forward + backward through autograd (out.backward(dout)),
median of repeated runs after warm-up. Run with Debian's python: /usr/bin/python3.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def median_ms(fn, min_reps, budget_ms):
    for _ in range(3):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (len(times) < 200 and (time.perf_counter() - start) * 1e3 < budget_ms):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    m = len(times) // 2
    return times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2


def main():
    req = json.load(sys.stdin)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    samples = []
    for c in req["cases"]:
        for dtype in req["dtypes"]:
            dt = torch.float32 if dtype == "float32" else torch.float64
            x = torch.randn(*c["x"], dtype=dt)
            w = torch.randn(*c["w"], dtype=dt)
            b = torch.randn(c["w"][0], dtype=dt)
            kw = dict(stride=c["stride"], padding=c["pad"], dilation=c["dilation"], groups=c["groups"])
            with torch.no_grad():
                out = F.conv2d(x, w, b, **kw)
            dout = torch.randn(*out.shape, dtype=dt)

            def fwd():
                with torch.no_grad():
                    F.conv2d(x, w, b, **kw)

            xg, wg, bg = (t.clone().requires_grad_(True) for t in (x, w, b))

            def fwd_bwd():
                xg.grad = wg.grad = bg.grad = None
                F.conv2d(xg, wg, bg, **kw).backward(dout)

            for name, fn in (("fwd", fwd), ("fwd+bwd", fwd_bwd)):
                samples.append({"id": c["id"], "dtype": dtype, "pass": name,
                                "ms": median_ms(fn, req["minReps"], req["budgetMs"])})
            print(f"torch {c['id']} {dtype}", file=sys.stderr, flush=True)
    info = f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s), oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}"
    json.dump({"info": info, "samples": samples}, sys.stdout)


main()
