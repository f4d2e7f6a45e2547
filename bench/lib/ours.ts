/**
 * Our kernels, in this thread, called straight on typed arrays. Each kernel file is imported
 * dynamically and its exports looked up by name, so a kernel that a colleague has not finished (file
 * missing, export renamed, signature changed) skips its rows with a note instead of breaking the run
 * or the type check. Every adapter checks the sizes of what came back once before it is timed.
 */
import { existsSync } from 'node:fs';
import { LAYER_KINDS, sizeOf, type Case, type CaseData, type Kind } from './cases.ts';
import { recycleAll } from '../../src/kernels/buffers.ts';
import { LAYER } from './layer-names.ts';

export class Skip extends Error {}

// Every float array of a result goes back to this thread's buffer pool after each timed call, as the
// service's worker does once it has encoded an answer (src/pool/pipeline.ts): the kernels are timed
// writing into warm pages, as they run in the service. The pool ignores arrays it did not lend.
const recycling = (f: () => unknown) => () => {
  const r = f();
  recycleAll(r);
  return r;
};

type Fn = (...args: unknown[]) => unknown;

export interface Runner {
  fwd(): unknown;
  fwdBwd(): unknown;
  /** the functions timed, e.g. "convForward; convForwardBackward" */
  calls: string;
}

interface Adapter {
  file: string;
  forward: string;
  backward: string;
  /** the inputs that get a gradient, in the order the backward returns them */
  grads: string[];
  callForward(f: Fn, c: Case, d: CaseData): unknown;
  callBackward(b: Fn, fwd: unknown, c: Case, d: CaseData): unknown;
  /** a one-call forward + backward, used when the kernel file exports it (as the service does) */
  fused?: { name: string; call(f: Fn, c: Case, d: CaseData): unknown; gradPaths?: string[][] };
  /** paths to the output array and to each gradient array in the results */
  outPath: string[];
  gradPaths: string[][];
}

const tensor = (c: Case, d: CaseData, name: string) => ({ shape: c.shapes[name], data: d.inputs[name] });
const doutOf = (c: Case, d: CaseData) => ({ shape: c.out, data: d.dout });
const poolParams = (c: Case) => ({ poolHeight: c.size, poolWidth: c.size, stride: c.stride });
const bnOptions = { mode: 'train', eps: 1e-5, momentum: 0.9, runningVarEstimator: 'biased' };

const pool = (file: string, prefix: string): Adapter => ({
  file, forward: `${prefix}Forward`, backward: `${prefix}Backward`, grads: ['x'],
  callForward: (f, c, d) => f(tensor(c, d, 'x'), poolParams(c)),
  callBackward: (b, _fwd, c, d) => b(tensor(c, d, 'x'), doutOf(c, d), poolParams(c)),
  fused: {
    name: `${prefix}ForwardBackward`,
    call: (f, c, d) => f(tensor(c, d, 'x'), doutOf(c, d), poolParams(c)),
    gradPaths: [['dx', 'data']],
  },
  outPath: ['data'], gradPaths: [['data']],
});

/** The normalization kernels return { out, cache }; backward takes (dout, cache). */
const norm = (file: string, prefix: string, options: object): Adapter => ({
  file, forward: `${prefix}Forward`, backward: `${prefix}Backward`, grads: ['x', 'gamma', 'beta'],
  callForward: (f, c, d) => f(tensor(c, d, 'x'), d.inputs.gamma, d.inputs.beta, options),
  callBackward: (b, fwd, c, d) => b(doutOf(c, d), (fwd as { cache: unknown }).cache),
  fused: {
    name: `${prefix}ForwardBackward`,
    call: (f, c, d) => f(tensor(c, d, 'x'), d.inputs.gamma, d.inputs.beta, doutOf(c, d), options),
  },
  outPath: ['out', 'data'], gradPaths: [['dx', 'data'], ['dgamma'], ['dbeta']],
});

const ADAPTERS: Partial<Record<Kind, Adapter>> = {
  conv: {
    file: 'conv.ts', forward: 'convForward', backward: 'convBackward', grads: ['x', 'w', 'b'],
    callForward: (f, c, d) => f(tensor(c, d, 'x'), tensor(c, d, 'w'), tensor(c, d, 'b'), { stride: c.stride, pad: c.pad }),
    callBackward: (b, _fwd, c, d) => b(tensor(c, d, 'x'), tensor(c, d, 'w'), doutOf(c, d), { stride: c.stride, pad: c.pad }),
    fused: {
      name: 'convForwardBackward',
      call: (f, c, d) => f(tensor(c, d, 'x'), tensor(c, d, 'w'), tensor(c, d, 'b'), doutOf(c, d), { stride: c.stride, pad: c.pad }),
    },
    outPath: ['data'], gradPaths: [['dx', 'data'], ['dw', 'data'], ['db', 'data']],
  },
  'max-pool': pool('max-pool.ts', 'maxPool'),
  'avg-pool': pool('avg-pool.ts', 'avgPool'),
  affine: {
    file: 'affine.ts', forward: 'affineForward', backward: 'affineBackward', grads: ['x', 'w', 'b'],
    callForward: (f, c, d) => f(d.inputs.x, d.inputs.w, d.inputs.b, ...dims(c)),
    callBackward: (b, _fwd, c, d) => b(d.inputs.x, d.inputs.w, d.dout, ...dims(c)),
    outPath: [], gradPaths: [['dx'], ['dw'], ['db']],
  },
  batchnorm: norm('batchnorm.ts', 'batchnorm', bnOptions),
  'spatial-batchnorm': norm('spatial-batchnorm.ts', 'spatialBatchnorm', bnOptions),
  layernorm: norm('layernorm.ts', 'layernorm', { eps: 1e-5 }),
};

/** affine's (N, D, M) */
function dims(c: Case): [number, number, number] {
  const [D, M] = c.shapes.w;
  return [c.shapes.x[0], D, M];
}

const modules = new Map<string, Promise<Record<string, unknown>>>();

async function load(file: string): Promise<Record<string, unknown>> {
  const url = new URL(`../../src/kernels/${file}`, import.meta.url);
  if (!existsSync(url)) throw new Skip(`src/kernels/${file} does not exist yet`);
  let p = modules.get(file);
  if (!p) modules.set(file, (p = import(url.href) as Promise<Record<string, unknown>>));
  try {
    return await p;
  } catch (e) {
    throw new Skip(`src/kernels/${file} does not load: ${firstLine(e)}`);
  }
}

function exported(mod: Record<string, unknown>, file: string, name: string): Fn {
  const f = mod[name];
  if (typeof f !== 'function') throw new Skip(`src/kernels/${file} has no export ${name} (not written yet, or renamed)`);
  return f as Fn;
}

function lengthAt(value: unknown, path: readonly string[]): number | undefined {
  let v = value;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return ArrayBuffer.isView(v) ? (v as Float64Array).length : undefined;
}

export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 160);
}

/**
 * The layer definition's compute (src/layers), as a worker runs it for a request: forward without
 * dout, forward + backward with it. A loss computes its gradient with the loss, so both passes
 * time the same call (PyTorch's forward computes the loss alone).
 */
async function layerRunner(c: Case, d: CaseData): Promise<Runner> {
  const { findLayer } = await import('../../src/layers/registry.ts');
  const def = findLayer(LAYER[c.kind]);
  if (!def) throw new Skip(`no layer ${LAYER[c.kind]} in the registry`);
  const dtype = d.inputs.x instanceof Float32Array ? 'float32' : 'float64';
  const inputs = Object.fromEntries(Object.entries(c.shapes).map(([k, shape]) => [k, { shape, data: d.inputs[k] }]));
  const task = { layer: LAYER[c.kind], dtype, mode: 'train', labels: d.labels, state: {}, params: def.params.parse(c.params ?? {}), inputs } as const;
  const withDout = c.labels ? task : { ...task, dout: { shape: c.out, data: d.dout } };
  const fwd = () => def.compute(task as never);
  const fwdBwd = () => def.compute(withDout as never);
  const first = fwdBwd();
  const produced = c.labels ? (Number.isFinite(first.loss) ? 1 : 0) : first.out?.data.length;
  if (produced !== sizeOf(c.out)) throw new Skip(`${c.kind}: compute gave ${produced ?? 'no'} outputs, expected ${sizeOf(c.out)}`);
  if (first.grads?.x?.data.length !== sizeOf(c.shapes.x)) throw new Skip(`${c.kind}: compute gave no dx of ${sizeOf(c.shapes.x)} values`);
  return { fwd: recycling(fwd), fwdBwd: recycling(fwdBwd), calls: `src/layers/${c.kind}.ts compute (without dout; with dout)` };
}

/** A runner for one case and dtype, checked once; throws Skip with the reason when it cannot run. */
export async function ourRunner(c: Case, d: CaseData): Promise<Runner> {
  if (LAYER_KINDS.includes(c.kind)) return layerRunner(c, d);
  const a = ADAPTERS[c.kind];
  if (!a) throw new Skip(`no kernel adapter for ${c.kind}`);
  const mod = await load(a.file);
  const f = exported(mod, a.file, a.forward);
  const b = exported(mod, a.file, a.backward);
  const fused = a.fused && typeof mod[a.fused.name] === 'function' ? a.fused : undefined;
  const fwd = () => a.callForward(f, c, d);
  const fwdBwd = fused ? () => fused.call(mod[fused.name] as Fn, c, d) : () => a.callBackward(b, fwd(), c, d);
  const bwdName = fused?.name ?? a.backward;
  try {
    const out = lengthAt(fwd(), a.outPath);
    if (out !== sizeOf(c.out)) throw new Skip(`${a.forward} returned ${out ?? 'no array'} values, expected ${sizeOf(c.out)} (API changed?)`);
    const grads = fwdBwd();
    a.grads.forEach((name, i) => {
      const n = lengthAt(grads, (fused?.gradPaths ?? a.gradPaths)[i]);
      const want = sizeOf(c.shapes[name]);
      if (n !== want) throw new Skip(`${bwdName}: d${name} has ${n ?? 'no array'} values, expected ${want} (API changed?)`);
    });
  } catch (e) {
    throw e instanceof Skip ? e : new Skip(`${a.file} threw: ${firstLine(e)} (API changed?)`);
  }
  return { fwd: recycling(fwd), fwdBwd: recycling(fwdBwd), calls: fused ? `${a.forward}; ${fused.name}` : `${a.forward}; ${a.forward} + ${a.backward}` };
}
