"""PyTorch and numpy peers for bench/run.ts, one thread each.

Reads {"cases": [...], "budget": {...}} (bench/lib/cases.ts, bench/lib/measure.ts) as JSON on stdin and
prints {"info": [...], "missing": {...}, "samples": [...]} as JSON on stdout; progress goes to stderr.
  torch: forward under no_grad, forward + backward through autograd (out.backward(dout)), every layer.
  numpy: conv as im2col (strided view + copy) and one matmul, backward as two matmuls and a col2im
         that adds one strided slice per filter tap (cs231n's conv_forward_strides / conv_backward_strides,
         with the Cython col2im written in numpy); affine as x.dot(w) + b. Other layers: torch only.
Run it with Debian's python: /usr/bin/python3 (apt-get install python3-torch python3-numpy libopenblas0-pthread).
"""
import ctypes
import json
import sys
import time

try:
    import numpy as np
except ImportError:
    np = None
try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

INSTALL = "apt-get install python3-torch python3-numpy libopenblas0-pthread"


def log(line):
    print(line, file=sys.stderr, flush=True)


def measure(fn, budget):
    """Median ms after warm-up; the same rules as bench/lib/measure.ts."""
    t = time.perf_counter()
    fn()
    first = (time.perf_counter() - t) * 1e3
    if first > budget["singleShotMs"]:
        return first, 1
    for _ in range(1, budget["warmups"]):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < budget["minReps"] or (
        len(times) < budget["maxReps"] and (time.perf_counter() - start) * 1e3 < budget["budgetMs"]
    ):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    m = len(times) // 2
    return (times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2), len(times)


def openblas_core():
    """The OpenBLAS kernel numpy runs (e.g. Haswell, SkylakeX, Cooperlake), from the loaded library."""
    try:
        for line in open("/proc/self/maps"):
            path = line.split()[-1]
            if "blas" in path or "lapack" in path:
                lib = ctypes.CDLL(path)
                if hasattr(lib, "openblas_get_corename"):
                    lib.openblas_get_corename.restype = ctypes.c_char_p
                    return "OpenBLAS %s (%s), %d thread(s)" % (
                        lib.openblas_get_corename().decode(), path, lib.openblas_get_num_threads())
    except Exception as e:  # informational only
        return "BLAS unknown (%s)" % e
    return "BLAS: not OpenBLAS"


# ---------------------------------------------------------------- numpy (cs231n fast layers, no Cython)

def im2col(x, HH, WW, stride, pad):
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Hp, Wp = H + 2 * pad, W + 2 * pad
    Ho, Wo = (Hp - HH) // stride + 1, (Wp - WW) // stride + 1
    s = xp.itemsize
    view = np.lib.stride_tricks.as_strided(
        xp, shape=(C, HH, WW, N, Ho, Wo),
        strides=(Hp * Wp * s, Wp * s, s, C * Hp * Wp * s, stride * Wp * s, stride * s))
    return np.ascontiguousarray(view).reshape(C * HH * WW, N * Ho * Wo), Ho, Wo


def col2im(dcols, x_shape, HH, WW, Ho, Wo, stride, pad):
    N, C, H, W = x_shape
    d6 = dcols.reshape(C, HH, WW, N, Ho, Wo)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    for kh in range(HH):
        for kw in range(WW):
            dxp[:, :, kh:kh + stride * Ho:stride, kw:kw + stride * Wo:stride] += d6[:, kh, kw].transpose(1, 0, 2, 3)
    return dxp[:, :, pad:pad + H, pad:pad + W]


def numpy_conv(c, x, w, b, dout):
    F_, _, HH, WW = w.shape
    N = x.shape[0]
    stride, pad = c["stride"], c["pad"]

    def forward():
        cols, Ho, Wo = im2col(x, HH, WW, stride, pad)
        res = w.reshape(F_, -1).dot(cols) + b.reshape(-1, 1)
        out = np.ascontiguousarray(res.reshape(F_, N, Ho, Wo).transpose(1, 0, 2, 3))
        return out, (cols, Ho, Wo)

    def fwd_bwd():
        _, (cols, Ho, Wo) = forward()
        db = dout.sum(axis=(0, 2, 3))
        d2 = dout.transpose(1, 0, 2, 3).reshape(F_, -1)
        dw = d2.dot(cols.T).reshape(w.shape)
        dx = col2im(w.reshape(F_, -1).T.dot(d2), x.shape, HH, WW, Ho, Wo, stride, pad)
        return dx, dw, db

    return forward, fwd_bwd


def numpy_affine(x, w, b, dout):
    def forward():
        return x.dot(w) + b

    def fwd_bwd():
        forward()
        return dout.dot(w.T), x.T.dot(dout), dout.sum(axis=0)

    return forward, fwd_bwd


# ---------------------------------------------------------------- torch

def torch_layer(c, labels):
    kind = c["kind"]
    if kind == "conv":
        return lambda x, w, b: F.conv2d(x, w, b, stride=c["stride"], padding=c["pad"])
    if kind == "max-pool":
        return lambda x: F.max_pool2d(x, c["size"], c["stride"])
    if kind == "avg-pool":
        return lambda x: F.avg_pool2d(x, c["size"], c["stride"])
    if kind == "affine":
        return lambda x, w, b: torch.addmm(b, x, w)
    if kind in ("batchnorm", "spatial-batchnorm"):
        C = c["shapes"]["gamma"][0]
        stats = {}

        def bn(x, gamma, beta):
            if x.dtype not in stats:
                stats[x.dtype] = (torch.zeros(C, dtype=x.dtype), torch.ones(C, dtype=x.dtype))
            rm, rv = stats[x.dtype]
            return F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-5)
        return bn
    if kind == "layernorm":
        D = c["shapes"]["x"][-1]
        return lambda x, gamma, beta: F.layer_norm(x, (D,), gamma, beta, 1e-5)
    if kind == "groupnorm":
        G = c["params"]["groups"]
        return lambda x, gamma, beta: F.group_norm(x, G, gamma, beta, 1e-5)
    if kind == "relu":
        return F.relu
    if kind == "dropout":
        # PyTorch's p drops a unit, cs231n's keeps it: 0.5 is the same either way.
        return lambda x: F.dropout(x, p=1 - c["params"]["p"], training=True)
    if kind == "softmax-loss":
        return lambda x: F.cross_entropy(x, labels["y"])
    if kind == "svm-loss":
        # multi_margin_loss divides by C where cs231n does not: the same work, another scale.
        return lambda x: F.multi_margin_loss(x, labels["y"])
    raise ValueError(kind)


def torch_runners(c, arrays, dout, labels):
    f = torch_layer(c, {k: torch.from_numpy(v).long() for k, v in labels.items()})
    ts = [torch.from_numpy(a) for a in arrays]
    # A loss is a scalar: its backward starts from 1.
    dy = None if labels else torch.from_numpy(dout)

    def forward():
        with torch.no_grad():
            return f(*ts)

    def fwd_bwd():
        leaves = [t.detach().requires_grad_(True) for t in ts]
        f(*leaves).backward(dy)
        return [t.grad for t in leaves]

    return forward, fwd_bwd


def main():
    spec = json.load(sys.stdin)
    budget = spec["budget"]
    info, missing, samples = [], {}, []
    if np is None:
        missing["numpy"] = "not installed: " + INSTALL
    if torch is None:
        missing["torch"] = "not installed: " + INSTALL
    if np is None:
        print(json.dumps({"info": info, "missing": {"numpy": missing["numpy"], "torch": missing.get("torch", "needs numpy")}, "samples": []}))
        return
    info.append("numpy %s, %s" % (np.__version__, openblas_core()))
    if torch is not None:
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        info.append("PyTorch %s, %d thread(s), oneDNN (mkldnn) %s" % (
            torch.__version__, torch.get_num_threads(), "on" if torch.backends.mkldnn.is_available() else "off"))

    rng = np.random.default_rng(0)
    for c in spec["cases"]:
        for dtype in ("float32", "float64"):
            names = list(c["shapes"].keys())
            arrays = [rng.uniform(-1, 1, c["shapes"][n]).astype(dtype) for n in names]
            if "gamma" in names:
                arrays[names.index("gamma")] = (1 + 0.1 * rng.uniform(-1, 1, c["shapes"]["gamma"])).astype(dtype)
            dout = rng.uniform(-1, 1, c["out"]).astype(dtype)
            labels = {k: rng.integers(0, v["classes"], v["n"]) for k, v in (c.get("labels") or {}).items()}
            impls = []
            if torch is not None:
                impls.append(("torch",) + torch_runners(c, arrays, dout, labels))
            if c["kind"] == "conv":
                impls.append(("numpy",) + numpy_conv(c, *arrays, dout))
            elif c["kind"] == "affine":
                impls.append(("numpy",) + numpy_affine(*arrays, dout))
            else:
                for p in ("fwd", "fwd+bwd"):
                    samples.append({"impl": "numpy", "caseId": c["id"], "dtype": dtype, "pass": p,
                                    "note": "numpy peer covers conv and affine"})
            for impl, forward, fwd_bwd in impls:
                for p, fn in (("fwd", forward), ("fwd+bwd", fwd_bwd)):
                    log("%s %s %s %s" % (impl, c["id"], dtype, p))
                    try:
                        ms, reps = measure(fn, budget)
                        samples.append({"impl": impl, "caseId": c["id"], "dtype": dtype, "pass": p, "ms": ms, "reps": reps})
                    except Exception as e:  # a peer failing is a note in the table, not a crash
                        samples.append({"impl": impl, "caseId": c["id"], "dtype": dtype, "pass": p,
                                        "note": "failed: %s" % str(e).splitlines()[0][:120]})
    print(json.dumps({"info": info, "missing": missing, "samples": samples}))


if __name__ == "__main__":
    main()
