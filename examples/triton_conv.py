#!/usr/bin/env python3
"""conv forward + backward through the Open Inference Protocol, with Triton's own Python client.

    python3 examples/triton_conv.py [HOST:PORT]          (default: 127.0.0.1:8080)

Needs numpy and tritonclient[http] (pip install 'tritonclient[http]'). Every layer is a model named
like its /v1 route; tensors go both ways as raw bytes (binary_data), params as request parameters.
"""
import sys
import time

import numpy as np
import tritonclient.http as httpclient

client = httpclient.InferenceServerClient(url=sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8080")
print(client.get_model_metadata("conv")["inputs"])

rng = np.random.default_rng(0)
x = rng.standard_normal((16, 32, 32, 32), dtype=np.float32)
w = rng.standard_normal((64, 32, 3, 3), dtype=np.float32)
b = np.zeros(64, np.float32)
dout = rng.standard_normal((16, 64, 32, 32), dtype=np.float32)

inputs = []
for name, value in [("x", x), ("w", w), ("b", b), ("dout", dout)]:
    tensor = httpclient.InferInput(name, list(value.shape), "FP32")
    tensor.set_data_from_numpy(value, binary_data=True)
    inputs.append(tensor)
outputs = [httpclient.InferRequestedOutput(name, binary_data=True) for name in ("out", "grad_x", "grad_w", "grad_b")]

for _ in range(3):
    t0 = time.perf_counter()
    result = client.infer("conv", inputs, outputs=outputs, parameters={"pad": 1})  # or {"stride": "2,1"}
    ms = (time.perf_counter() - t0) * 1000
print(f"out {result.as_numpy('out').shape}, grad_w {result.as_numpy('grad_w').shape}: {ms:.1f} ms")
