#!/usr/bin/env python3
"""Train cs231n's three-layer convnet on scikit-learn's 8x8 digits through layerserve.

    conv 3x3 (16 filters, pad 1) - relu - 2x2 max pool - affine (64) - relu - affine (10) - softmax

Every training step is one POST /v1/networks/step: the batch, the labels, the weights and adam's state
go in; the loss, the updated weights and adam's next state come back. Nothing but numpy and the
standard library: bodies are framed binary (API.md "Binary bodies": an Inference-Header-Content-Length
JSON header, then the raw little-endian tensors), so no number is printed as text either way.
Validation accuracy is the argmax of the scores that the same route returns in test mode without y.

    npm start &                                    # the service, on port 8080
    /usr/bin/python3 examples/train_digits.py      # needs python3-numpy and python3-sklearn (Debian)

Options: --url, --epochs, --batch, --lr, --dtype float32|float64, --seed; API_TOKEN from the
environment when the service asks for one.
"""
import argparse
import http.client
import json
import os
import time
import urllib.parse

import numpy as np
from sklearn.datasets import load_digits

LAYERS = [
    {"layer": "conv", "name": "conv1", "params": {"pad": 1}, "inputs": {"w": "W1", "b": "b1"}},
    {"layer": "relu"},
    {"layer": "max-pool", "name": "pool1", "params": {"poolHeight": 2, "poolWidth": 2}},
    {"layer": "affine", "name": "fc1", "inputs": {"w": "W2", "b": "b2"}},
    {"layer": "relu"},
    {"layer": "affine", "name": "fc2", "inputs": {"w": "W3", "b": "b3"}},
    {"layer": "softmax-loss"},
]

NP_DTYPES = {"float32": "<f4", "float64": "<f8", "int32": "<i4", "int64": "<i8"}


def frame(body):
    """The body as a framed request: JSON whose numpy arrays became {shape, dtype, bytes}, then the bytes."""
    chunks = []
    offset = 0

    def walk(v):
        nonlocal offset
        if isinstance(v, np.ndarray):
            name = {"f": "float", "i": "int"}[v.dtype.kind] + str(8 * v.dtype.itemsize)
            data = np.ascontiguousarray(v, dtype=NP_DTYPES[name]).tobytes()
            chunks.append(data)
            offset += len(data)
            return {"shape": list(v.shape), "dtype": name, "bytes": [offset - len(data), offset]}
        if isinstance(v, dict):
            return {k: walk(e) for k, e in v.items()}
        if isinstance(v, list):
            return [walk(e) for e in v]
        return v

    head = json.dumps(walk(body)).encode()
    return head, b"".join(chunks)


def unframe(raw, header_length):
    """A framed answer back to JSON with numpy arrays in place of its {shape, dtype, bytes} tensors."""
    head = json.loads(raw[:header_length])
    section = raw[header_length:]

    def walk(v):
        if isinstance(v, dict) and "bytes" in v and "shape" in v:
            start, end = v["bytes"]
            return np.frombuffer(section[start:end], dtype=NP_DTYPES[v["dtype"]]).reshape(v["shape"])
        if isinstance(v, dict):
            return {k: walk(e) for k, e in v.items()}
        return v

    return walk(head)


class Service:
    """One keep-alive connection to the service."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)
        self.token = os.environ.get("API_TOKEN")

    def step(self, body):
        head, section = frame(body)
        headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        self.conn.request("POST", "/v1/networks/step", body=head + section, headers=headers)
        res = self.conn.getresponse()
        raw = res.read()
        if res.status != 200:
            raise RuntimeError(f"{res.status}: {raw.decode(errors='replace')}")
        return unframe(raw, int(res.getheader("Inference-Header-Content-Length")))


def init_params(rng, dtype, filters=16, hidden=64, classes=10):
    """He-scaled normal weights, zero biases (cs231n's ThreeLayerConvNet, with a fan-in scale)."""
    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)

    return {
        "W1": he((filters, 1, 3, 3), 9), "b1": np.zeros(filters, dtype),
        "W2": he((filters * 4 * 4, hidden), filters * 16), "b2": np.zeros(hidden, dtype),
        "W3": he((hidden, classes), hidden), "b3": np.zeros(classes, dtype),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--reg", type=float, default=1e-3)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    digits = load_digits()
    x = (digits.images / 16.0).astype(args.dtype)[:, None, :, :]   # (N, 1, 8, 8)
    x = (x - x.mean()) / x.std()
    y = digits.target.astype(np.int32)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    n_val = len(x) // 5
    val, train = order[:n_val], order[n_val:]
    print(f"digits: {len(train)} training and {n_val} validation images of 8x8, 10 classes; "
          f"{args.dtype}, batch {args.batch}, adam lr {args.lr}, reg {args.reg}, binary bodies to {args.url}")

    service = Service(args.url)
    params = init_params(rng, args.dtype)
    adam_state = {}

    def scores(idx):
        answer = service.step({"dtype": args.dtype, "mode": "test", "layers": LAYERS, "params": params, "x": x[idx]})
        return answer["out"]

    def accuracy(idx):
        return float((scores(idx).argmax(axis=1) == y[idx]).mean())

    for epoch in range(1, args.epochs + 1):
        rng.shuffle(train)
        losses, times = [], []
        for start in range(0, len(train), args.batch):
            idx = train[start:start + args.batch]
            body = {
                "dtype": args.dtype, "layers": LAYERS, "params": params, "x": x[idx], "y": y[idx], "reg": args.reg,
                "update": {"rule": "adam", "params": {"learningRate": args.lr}, "state": adam_state},
            }
            t0 = time.perf_counter()
            answer = service.step(body)
            times.append(time.perf_counter() - t0)
            losses.append(answer["loss"])
            params, adam_state = answer["params"], answer["updateState"]
        print(f"epoch {epoch:2d}: loss {np.mean(losses):.4f}  train acc {accuracy(train):.3f}  val acc {accuracy(val):.3f}  "
              f"{1e3 * np.median(times):.2f} ms/step (median of {len(times)}; round trip incl. framing)")
    final = accuracy(val)
    print(f"validation accuracy {100 * final:.1f} % after {args.epochs} epochs")
    return 0 if final >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
