/**
 * Worst error of float32 batchnorm (N, D) on the wasm path against a float64 computation on the same
 * (float32-rounded) inputs, forward out and backward dx/dgamma/dbeta, over random shapes, magnitudes
 * and offsets (x = shift + scale·randn, shift up to 100× scale). Error scaled by the magnitude of the
 * terms (|x − mean|·|gamma|·invstd + |beta| for out; Σ of the absolute terms of dx's three parts).
 *
 *   npx tsx bench/batchnorm-error.ts [--cases 300]
 */
import { parseArgs } from 'node:util';
import { batchnormForwardBackwardNCSWasm } from '../src/kernels/batchnorm.ts';
import { randn } from '../src/util/random.ts';

const { values: opts } = parseArgs({ options: { cases: { type: 'string', default: '300' } } });
let worst = { out: 0, dx: 0, dgamma: 0, dbeta: 0 };
let rnd = 12345;
const next = () => ((rnd = (rnd * 1103515245 + 12345) >>> 0) / 2 ** 32);
for (let t = 0; t < Number(opts.cases); t++) {
  const N = 2 + Math.floor(next() * 300), D = 1 + Math.floor(next() * 300);
  const scale = 10 ** (next() * 6 - 3), shift = (next() - 0.5) * 200 * scale;
  const x = Float32Array.from(randn(N * D, t * 4 + 1, scale, shift));
  const g = Float32Array.from(randn(N * D, t * 4 + 2, 10 ** (next() * 4 - 2)));
  const gamma = Float32Array.from(randn(D, t * 4 + 3));
  const beta = Float32Array.from(randn(D, t * 4 + 4));
  const r = batchnormForwardBackwardNCSWasm({ shape: [N, D], data: x }, N, D, 1, gamma, beta, { shape: [N, D], data: g },
    { mode: 'train', eps: 1e-5, momentum: 0.9, runningVarEstimator: 'biased' }, { capElements: 1 << 20 });
  if (!r) continue;
  // float64 reference on the same inputs
  const M = N;
  for (let d = 0; d < D; d++) {
    let m = 0;
    for (let n = 0; n < N; n++) m += x[n * D + d];
    m /= M;
    let v = 0;
    for (let n = 0; n < N; n++) v += (x[n * D + d] - m) ** 2;
    v /= M;
    const inv = 1 / Math.sqrt(v + 1e-5);
    let sg = 0, sgx = 0, sAbsG = 0, sAbsGx = 0;
    for (let n = 0; n < N; n++) {
      const xh = (x[n * D + d] - m) * inv;
      sg += g[n * D + d];
      sgx += g[n * D + d] * xh;
      sAbsG += Math.abs(g[n * D + d]);
      sAbsGx += Math.abs(g[n * D + d] * xh);
    }
    let eOut = 0, sOut = 0, eDx = 0, sDx = 0;
    for (let n = 0; n < N; n++) {
      const i = n * D + d;
      const xh = (x[i] - m) * inv;
      const want = xh * gamma[d] + beta[d];
      eOut = Math.max(eOut, Math.abs(r.out.data[i] - want));
      sOut = Math.max(sOut, Math.abs(xh * gamma[d]) + Math.abs(beta[d]));
      const k = (gamma[d] * inv) / M;
      const wdx = k * (M * g[i] - sg - xh * sgx);
      eDx = Math.max(eDx, Math.abs(r.dx.data[i] - wdx));
      sDx = Math.max(sDx, Math.abs(k) * (M * Math.abs(g[i]) + sAbsG + Math.abs(xh) * sAbsGx));
    }
    worst.out = Math.max(worst.out, eOut / sOut);
    worst.dx = Math.max(worst.dx, eDx / sDx);
    worst.dgamma = Math.max(worst.dgamma, Math.abs(r.dgamma[d] - sgx) / sAbsGx);
    worst.dbeta = Math.max(worst.dbeta, Math.abs(r.dbeta[d] - sg) / sAbsG);
  }
}
console.log(`float32 batchnorm (N, D), wasm path, worst scaled error over ${opts.cases} random cases:`,
  Object.entries(worst).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', '), `(float32 unit roundoff ${2 ** -24})`);
