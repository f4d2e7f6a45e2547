import { ProblemError } from '../errors/problems.ts';
import type { LayerRequest } from '../layers/envelope.ts';
import { prepareTask, type Limits } from '../layers/prepare.ts';
import { gradientInputs, type LayerDefinition, type LayerResult, type LayerTask } from '../layers/types.ts';
import { ClientGoneError } from '../errors/client-gone.ts';
import { formatShape } from '../kernels/types.ts';
import { inFloat64, outShapeOf } from './claims.ts';
import { REL_ERROR_FLOOR, unravel } from './compare.ts';
import { PROBE, type Coordinate, type ProbeParams } from './probe.ts';
import type { GradcheckRequest } from './schema.ts';
import type { Runner } from './variants.ts';
import { randn, rng } from '../util/random.ts';

/**
 * POST /v1/layers/{layer}/gradcheck: the service's own backward against centered differences, in
 * float64, as cs231n's gradient_check.py does. The objective is the loss (loss layers) or
 * sum(out · dout), with the request's dout or a seeded random one. Each float input is checked at
 * every coordinate, or at `samples` distinct coordinates drawn with `seed` when it has more.
 * The perturbed forwards run on the workers, COORDS_PER_TASK coordinates per task, at most one
 * task per worker at a time.
 */
export const COORDS_PER_TASK = 32;

/** Slopes this far apart (relative) on either side of a coordinate mean a kink within the step. */
const KINK = 1e-3;

export interface GradcheckResult {
  passed: boolean;
  relError: number;
  maxAbsError: number;
  checked: number;
  of: number;
  sampled: boolean;
  worst: { index: number[]; numeric: number; analytic: number } | null;
  hints: string[];
}

export interface GradcheckAnswer {
  passed: boolean;
  step: number;
  threshold: number;
  objective: string;
  results: Record<string, GradcheckResult>;
}

/** `k` distinct indices of 0..n−1 in increasing order: all of them when k >= n. */
export function sampleIndices(n: number, k: number, seed: number): number[] {
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  const r = rng(seed);
  const picked = new Set<number>();
  while (picked.size < k) picked.add(Math.floor(r() * n));
  return [...picked].sort((a, b) => a - b);
}

/**
 * Runs the probe tasks with at most `workers` in flight and returns their rows (numeric, right and left
 * slope per coordinate) in coordinate order. The first failure stops the rest (a timeout wins over the
 * cancellations it caused) and a timeout says what one task was: `forwards` finishes "… forwards".
 */
export async function probeRows<T extends LayerTask<any>>(tasks: T[], run: (task: T) => Promise<LayerResult>, workers: number, forwards: string, smaller: string): Promise<Float64Array> {
  const results: LayerResult[] = new Array(tasks.length);
  const errors: unknown[] = [];
  let next = 0;
  const lane = async () => {
    while (next < tasks.length && errors.length === 0) {
      const i = next++;
      try {
        results[i] = await run(tasks[i]);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, tasks.length) }, lane));
  if (errors.length) {
    const error = errors.find((e) => !(e instanceof ClientGoneError)) ?? errors[0];
    if (error instanceof ProblemError && error.kind === 'timeout') {
      // The pool names the task (the internal probe); say what it was and what to change.
      const per = (tasks[0].params as { coords: unknown[] }).coords.length;
      throw new ProblemError('timeout', `one task of the numeric gradient (${per} coordinates, ${2 * per + 1} ${forwards}) ran past the compute time limit; send fewer samples or ${smaller}`);
    }
    throw error;
  }
  const rows = new Float64Array(results.reduce((n, r) => n + r.out!.data.length, 0));
  let o = 0;
  for (const r of results) {
    rows.set(r.out!.data, o);
    o += r.out!.data.length;
  }
  return rows;
}

/** How many coordinates each probe task takes: at least one task per worker, at most COORDS_PER_TASK each. */
export function coordsPerTask(coords: number, workers: number): number {
  return Math.ceil(coords / Math.max(Math.min(workers, coords), Math.ceil(coords / COORDS_PER_TASK)));
}

/**
 * One tensor's verdict: its analytic gradient against the numeric rows at the coordinates `at`
 * (positions k in the rows, each with its flat index into the tensor), cs231n's relative error.
 */
export function tensorVerdict(key: string, shape: number[], grad: ArrayLike<number>, rows: Float64Array, at: { k: number; index: number }[], step: number, threshold: number): GradcheckResult {
  let relError = 0;
  let maxAbsError = 0;
  let worst = at[0];
  for (const c of at) {
    const n = rows[3 * c.k];
    const a = grad[c.index];
    const r = Math.abs(n - a) / Math.max(REL_ERROR_FLOOR, Math.abs(n) + Math.abs(a));
    if (r > relError) {
      relError = r;
      worst = c;
    }
    maxAbsError = Math.max(maxAbsError, Math.abs(n - a));
  }
  const of = shape.reduce((a, d) => a * d, 1);
  const passed = relError <= threshold;
  const index = unravel(worst.index, shape);
  const numeric = rows[3 * worst.k];
  return {
    passed,
    relError,
    maxAbsError,
    checked: at.length,
    of,
    sampled: at.length < of,
    worst: { index, numeric, analytic: grad[worst.index] },
    hints: passed ? [] : gradcheckHints(key, index, numeric, grad[worst.index], rows[3 * worst.k + 1], rows[3 * worst.k + 2], step),
  };
}

/** A gradcheck request with every 4xx decided and its tensors decoded (float64): plain data, it crosses threads. */
export interface PreparedGradcheck {
  task: LayerTask;
  step: number;
  samples: number;
  seed: number;
  threshold: number;
}

/** First half (on a worker, with the body's parsing): every 4xx and the decoding. */
export function prepareGradcheck(def: LayerDefinition, body: GradcheckRequest, limits: Limits): PreparedGradcheck {
  const prepared = prepareTask(def, body as LayerRequest, limits);
  return { task: inFloat64(prepared.task), step: body.step, samples: body.samples, seed: body.seed, threshold: body.threshold };
}

/** Second half, on the main thread: the analytic gradient and the probes across the pool, the comparison here. */
export async function runGradcheck(def: LayerDefinition, prepared: PreparedGradcheck, run: Runner, workers: number): Promise<GradcheckAnswer> {
  const { task, step, samples, seed, threshold } = prepared;
  let objective = def.loss ? 'loss' : 'sum(out · dout)';
  if (!def.loss && !task.dout) {
    const shape = outShapeOf(def, task);
    task.dout = { shape, data: randn(shape.reduce((a, d) => a * d, 1), seed) };
    objective += `, dout random normal (seed ${seed})`;
  }
  const analytic = await run(def, task);

  const floats = gradientInputs(def);
  // Each input draws from its own stream, so adding an input does not move another's coordinates.
  const coords: Coordinate[] = floats.flatMap((input, k) =>
    sampleIndices(task.inputs[input].data.length, samples, (seed + k * 0x9e3779b9) >>> 0).map((index) => ({ input, index })),
  );
  const per = coordsPerTask(coords.length, workers);
  const tasks: LayerTask[] = [];
  for (let o = 0; o < coords.length; o += per) {
    const params: ProbeParams = { op: 'perturb', layer: def.name, params: task.params, step, objective: def.loss ? 'loss' : 'dot', coords: coords.slice(o, o + per) };
    tasks.push({ ...task, layer: PROBE.name, params });
  }
  const rows = await probeRows(tasks, (t) => run(PROBE, t), workers, 'forwards', 'smaller inputs');

  const results: Record<string, GradcheckResult> = {};
  for (const input of floats) {
    const at = coords.flatMap((c, k) => (c.input === input ? [{ k, index: c.index }] : []));
    results[`grads.${input}`] = tensorVerdict(`grads.${input}`, task.inputs[input].shape, analytic.grads![input].data, rows, at, step, threshold);
  }
  return { passed: Object.values(results).every((r) => r.passed), step, threshold, objective, results };
}

export function gradcheckHints(key: string, index: number[], numeric: number, analytic: number, right: number, left: number, step: number): string[] {
  const at = formatShape(index);
  const spread = Math.abs(right - left) / Math.max(REL_ERROR_FLOOR, Math.abs(right) + Math.abs(left));
  if (spread > KINK) {
    return [
      `${key} ${at} sits within step ${step} of a kink (the slope is ${right} on the right and ${left} on the left): relu at 0, a max-pool tie or a hinge; ` +
        'centered differences are unreliable there: try a smaller step, or inputs away from the kink',
    ];
  }
  if (Math.abs(numeric) + Math.abs(analytic) < 1e-6) {
    return [`${key} ${at} is nearly zero (numeric ${numeric}, analytic ${analytic}): cs231n's relative error is large near 1e-8 and below; this is rounding, not a wrong gradient`];
  }
  return [`${key} ${at}: numeric ${numeric}, analytic ${analytic}; if the error changes a lot with the step (try 1e-4 and 1e-6), it is numerical noise in the differences`];
}
