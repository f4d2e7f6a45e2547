#!/usr/bin/env python3
"""A framed /v1 request by hand: the standard library and numpy only (API.md, "Binary bodies").

    python3 examples/framed_v1.py [BASE_URL]            (default: http://127.0.0.1:8080)
"""
import json, sys, urllib.request
import numpy as np

x = np.random.default_rng(0).standard_normal((16, 32, 32, 32), dtype=np.float32)
w = np.random.default_rng(1).standard_normal((64, 32, 3, 3), dtype=np.float32)
tensor = lambda a, start: {"shape": list(a.shape), "dtype": "float32", "bytes": [start, start + a.nbytes]}
head = json.dumps({"dtype": "float32", "params": {"pad": 1}, "encoding": "binary",
                   "inputs": {"x": tensor(x, 0), "w": tensor(w, x.nbytes), "b": [0.0] * 64}}).encode()
req = urllib.request.Request((sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080") + "/v1/layers/conv",
                             data=head + x.tobytes() + w.tobytes(), headers={"Inference-Header-Content-Length": str(len(head))})
with urllib.request.urlopen(req) as res:
    body, n = res.read(), int(res.headers["Inference-Header-Content-Length"])
answer, section = json.loads(body[:n]), body[n:]
start, end = answer["out"]["bytes"]
out = np.frombuffer(section[start:end], np.float32).reshape(answer["out"]["shape"])
print(out.shape, res.headers["Server-Timing"])
