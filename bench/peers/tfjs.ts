/**
 * TensorFlow.js peers, float32 only: the CPU backend (pure JS; forward, and forward + backward through
 * tf.grads) and the wasm backend (XNNPACK, one thread; forward). Layouts are TensorFlow's own, NHWC and
 * HWIO filters: the same sizes and FLOPs as our NCHW cases. Every run reads its outputs back
 * (dataSync), so the timing includes finishing the work and handing the numbers to JS.
 */
import { measure } from '../lib/measure.ts';
import type { Case } from '../lib/cases.ts';
import { PEERS_INSTALL, type Impl, type PeerContext } from '../lib/results.ts';

interface T {
  dataSync(): ArrayLike<number>;
  dispose(): void;
}
interface Tf {
  version_core: string;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  tensor(values: Float32Array | Float64Array, shape: number[]): T;
  tidy<R>(f: () => R): R;
  grads(f: (...xs: T[]) => T): (xs: T[], dy: T) => T[];
  conv2d(x: T, filter: T, strides: number, pad: number): T;
  maxPool(x: T, size: number, strides: number, pad: 'valid'): T;
  avgPool(x: T, size: number, strides: number, pad: 'valid'): T;
  matMul(a: T, b: T): T;
  add(a: T, b: T | number): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  rsqrt(x: T): T;
  moments(x: T, axes: number | number[], keepDims?: boolean): { mean: T; variance: T };
  batchNorm(x: T, mean: T, variance: T, offset: T, scale: T, eps: number): T;
}

/** The layer as a function of the tensors that get gradients (the first is x). */
function layer(tf: Tf, c: Case): { shapes: number[][]; f: (...xs: T[]) => T } | undefined {
  const [N, C, H, W] = c.shapes.x;
  const norm = (axes: number[]) => (x: T, gamma: T, beta: T) => {
    const { mean, variance } = tf.moments(x, axes);
    return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5);
  };
  // tf.batchNorm wants rank-1 statistics when gamma is rank 1: layernorm's per-row ones are spelled out.
  const layernorm = (x: T, gamma: T, beta: T) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta);
  };
  switch (c.kind) {
    case 'conv': {
      const [F, , HH, WW] = c.shapes.w;
      return {
        shapes: [[N, H, W, C], [HH, WW, C, F], [F]],
        f: (x, w, b) => tf.add(tf.conv2d(x, w, c.stride, c.pad), b),
      };
    }
    case 'max-pool':
      return { shapes: [[N, H, W, C]], f: (x) => tf.maxPool(x, c.size, c.stride, 'valid') };
    case 'avg-pool':
      return { shapes: [[N, H, W, C]], f: (x) => tf.avgPool(x, c.size, c.stride, 'valid') };
    case 'affine':
      return { shapes: [c.shapes.x, c.shapes.w, c.shapes.b], f: (x, w, b) => tf.add(tf.matMul(x, w), b) };
    case 'batchnorm':
      return { shapes: [c.shapes.x, c.shapes.gamma, c.shapes.beta], f: norm([0]) };
    case 'spatial-batchnorm':
      return { shapes: [[N, H, W, C], [C], [C]], f: norm([0, 1, 2]) };
    case 'layernorm':
      return { shapes: [c.shapes.x, c.shapes.gamma, c.shapes.beta], f: layernorm };
    default:
      return undefined; // the kinds PyTorch alone is timed against
  }
}

async function loadTf(): Promise<{ tf: Tf; wasm: { setThreadsCount?(n: number): void } | null }> {
  // tfjs greets Node users on the console with advice to install tfjs-node; keep the table clean.
  const warn = console.warn;
  console.warn = () => {};
  try {
    const tf = (await import('@tensorflow/tfjs' as string)) as Tf;
    const wasm = await import('@tensorflow/tfjs-backend-wasm' as string).catch(() => null);
    return { tf, wasm };
  } finally {
    console.warn = warn;
  }
}

export async function runTfjs(ctx: PeerContext): Promise<void> {
  let loaded;
  try {
    loaded = await loadTf();
  } catch {
    const note = `not installed: ${PEERS_INSTALL}`;
    ctx.results.implNotes.set('tfjs-cpu', note);
    ctx.results.implNotes.set('tfjs-wasm', note);
    return;
  }
  const { tf, wasm } = loaded;
  ctx.results.addInfo(`tfjs ${tf.version_core}: CPU backend (JS) and wasm backend (XNNPACK, 1 thread), float32 only`);
  if (!wasm) ctx.results.implNotes.set('tfjs-wasm', `not installed: ${PEERS_INSTALL}`);
  wasm?.setThreadsCount?.(1);

  for (const [impl, backend] of [['tfjs-cpu', 'cpu'], ['tfjs-wasm', 'wasm']] as [Impl, string][]) {
    if (backend === 'wasm' && !wasm) continue;
    if (!(await tf.setBackend(backend))) {
      ctx.results.implNotes.set(impl, `backend ${backend} did not start`);
      continue;
    }
    await tf.ready();
    for (const c of ctx.cases) {
      ctx.results.add({ impl, caseId: c.id, dtype: 'float64', pass: 'fwd', note: 'float32 only' });
      ctx.results.add({ impl, caseId: c.id, dtype: 'float64', pass: 'fwd+bwd', note: 'float32 only' });
      const spec = layer(tf, c);
      if (!spec) {
        for (const pass of ['fwd', 'fwd+bwd'] as const) ctx.results.add({ impl, caseId: c.id, dtype: 'float32', pass, note: 'not timed for this layer' });
        continue;
      }
      const { shapes, f } = spec;
      const names = Object.keys(c.shapes);
      const data = ctx.data(c, 'float32');
      const xs = shapes.map((s, i) => tf.tensor(data.inputs[names[i]], s));
      const dy = tf.tensor(data.dout, c.kind === 'conv' || c.kind.endsWith('pool') || c.kind === 'spatial-batchnorm' ? nhwc(c.out) : c.out);
      const fwd = () => tf.tidy(() => void f(...xs).dataSync());
      const g = tf.grads(f);
      const fwdBwd = () => tf.tidy(() => void g(xs, dy).forEach((t) => t.dataSync()));
      for (const [pass, fn] of [['fwd', fwd], ['fwd+bwd', fwdBwd]] as const) {
        let note: string | undefined;
        if (pass === 'fwd+bwd' && impl === 'tfjs-wasm') note = 'forward only';
        else if (pass === 'fwd+bwd' && ctx.quick && c.kind === 'conv' && c.id !== 'conv-C') note = 'skipped in --quick (up to a minute)';
        if (note) {
          ctx.results.add({ impl, caseId: c.id, dtype: 'float32', pass, note });
          continue;
        }
        if (ctx.round > 1 && ctx.results.get(impl, c.id, 'float32', pass)?.reps === 1) continue;
        ctx.log(`${impl} ${c.id} float32 ${pass}`);
        try {
          const t = await measure(fn, ctx.budget);
          ctx.results.add({ impl, caseId: c.id, dtype: 'float32', pass, ...t });
        } catch (e) {
          ctx.results.add({ impl, caseId: c.id, dtype: 'float32', pass, note: `failed: ${(e as Error).message.split('\n')[0].slice(0, 120)}` });
        }
      }
      xs.forEach((t) => t.dispose());
      dy.dispose();
    }
  }
}

const nhwc = ([n, c, h, w]: number[]) => [n, h, w, c];
