#!/usr/bin/env python3
"""Check your own convolution, forward and backward, against layerserve.

    python3 examples/check_conv.py [BASE_URL]        (default: $LAYERSERVE_URL or http://127.0.0.1:8080)

Needs numpy and requests. The two functions below are a learner's cs231n-style naive convolution;
replace them with yours. The script sends what they compute as `claimed` to
POST /v1/layers/conv/check, prints the verdict for each tensor, then shows what a typical mistake
looks like. It exits 0 when your implementation passed, 1 when it did not, 2 on a problem.
"""
import os
import sys

import numpy as np
import requests


def conv_forward_naive(x, w, b, stride, pad):
    """x (N, C, H, W), w (F, C, HH, WW), b (F) -> out (N, F, Ho, Wo): a cross-correlation."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho = (H + 2 * pad - HH) // stride + 1
    Wo = (W + 2 * pad - WW) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out


def conv_backward_naive(dout, x, w, stride, pad):
    """dout (N, F, Ho, Wo) -> dx (N, C, H, W), dw (F, C, HH, WW), db (F)."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dw[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
                    dxp[n, :, rows, cols] += w[f] * dout[n, f, i, j]
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db


def check(url, body):
    r = requests.post(f"{url}/v1/layers/conv/check", json=body, timeout=60)
    if r.status_code != 200:
        # Every error is an RFC 9457 problem: `detail` says which field and why.
        print(f"{r.status_code}: {r.json().get('detail', r.text)}")
        sys.exit(2)
    answer = r.json()
    for key, res in answer["results"].items():
        verdict = "pass" if res["passed"] else "FAIL"
        rel = "n/a" if res["relError"] is None else f"{res['relError']:.1e}"
        print(f"  {key:8} {verdict}  relative error {rel} (threshold {res['threshold']:g})")
        if not res["passed"] and res["worst"]:
            worst = res["worst"]
            print(f"           worst at {worst['index']}: yours {worst['claimed']:.6g}, reference {worst['expected']:.6g}")
        for hint in res["hints"]:
            print(f"           hint: {hint}")
    return answer["passed"]


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LAYERSERVE_URL", "http://127.0.0.1:8080")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    stride, pad = 2, 1

    out = conv_forward_naive(x, w, b, stride, pad)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_backward_naive(dout, x, w, stride, pad)

    # The layer's own request body (tolist() keeps every float64 digit in JSON), plus what you computed.
    body = {
        "inputs": {"x": x.tolist(), "w": w.tolist(), "b": b.tolist()},
        "params": {"stride": stride, "pad": pad},
        "dout": dout.tolist(),
        "claimed": {"out": out.tolist(), "grads": {"x": dx.tolist(), "w": dw.tolist(), "b": db.tolist()}},
    }
    print("your conv_forward_naive / conv_backward_naive:")
    passed = check(url, body)

    # What a mistake looks like: dw averaged over the batch, as if this layer took a mean over N.
    print("the same with dw divided by N:")
    body["claimed"] = {"grads": {"w": (dw / x.shape[0]).tolist()}}
    check(url, body)

    print("passed" if passed else "failed")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
