import { ProblemError } from '../errors/problems.ts';
import type { LayerRequest } from '../layers/envelope.ts';
import { prepareTask, type Limits } from '../layers/prepare.ts';
import type { Tensor } from '../kernels/types.ts';
import type { LayerDefinition, LayerResult, LayerTask } from '../layers/types.ts';
import { firstNonFinite } from '../tensors/finite.ts';
import { inFloat64, outShapeOf, prepareClaims, type Claim } from './claims.ts';
import { compare, unravel } from './compare.ts';
import { hintsFor, type Expected } from './hints.ts';
import type { CheckRequest } from './schema.ts';
import { variantsFor, type Runner } from './variants.ts';

export interface CheckResult {
  passed: boolean;
  relError: number | null;
  maxAbsError: number | null;
  threshold: number;
  worst: { index: number[]; claimed: number; expected: number } | null;
  hints: string[];
}

export interface CheckAnswer {
  passed: boolean;
  results: Record<string, CheckResult>;
}

/** The reference value of a claimed key, or a 422 when float64 itself overflowed. */
function expectedOf(result: LayerResult, key: string): Expected {
  if (key === 'loss') {
    if (!Number.isFinite(result.loss)) throw ProblemError.at('nonFiniteResult', 'loss', `the reference loss is ${result.loss}: nothing to compare with`);
    return { shape: null, data: [result.loss!] };
  }
  const [group, name] = key.includes('.') ? (key.split('.') as ['grads' | 'state', string]) : [undefined, key];
  const t = group ? (result[group] as Record<string, Tensor> | undefined)?.[name] : result.out;
  if (!t) throw new Error(`check: the reference has no ${key}`);
  const bad = firstNonFinite(t.data);
  if (bad >= 0) throw ProblemError.at('nonFiniteResult', key, `the float64 reference holds ${t.data[bad]} at flat index ${bad}: nothing to compare with`);
  return { shape: t.shape, data: t.data };
}

function verdict(c: Claim, e: Expected): CheckResult {
  const sameCount = c.data.length === e.data.length;
  if (!sameCount) return { passed: false, relError: null, maxAbsError: null, threshold: c.threshold, worst: null, hints: [] };
  const cmp = compare(c.data, e.data, c.threshold);
  const sameShape = c.shape === null || (c.shape.length === e.shape!.length && c.shape.every((d, i) => d === e.shape![i]));
  return {
    passed: sameShape && cmp.relError <= c.threshold,
    relError: cmp.relError,
    maxAbsError: cmp.maxAbsError,
    threshold: c.threshold,
    worst: { index: e.shape ? unravel(cmp.worst, e.shape) : [], claimed: c.data[cmp.worst], expected: e.data[cmp.worst] },
    hints: [],
  };
}

/** A check request with every 4xx decided and its tensors decoded (float64): plain data, it crosses threads. */
export interface PreparedCheck {
  task: LayerTask;
  claims: Claim[];
}

/**
 * POST /v1/layers/{layer}/check, first half (on a worker, with the body's parsing): every 4xx,
 * prepareTask for the layer's part, prepareClaims for the claims.
 */
export function prepareCheck(def: LayerDefinition, body: CheckRequest, limits: Limits): PreparedCheck {
  const prepared = prepareTask(def, body as LayerRequest, limits);
  const claims = prepareClaims(def, prepared.task, body.claimed, body.threshold, limits);
  const task = inFloat64(prepared.task);
  // Without claimed gradients a backward pass would be work for nothing.
  if (!def.loss && !claims.some((c) => c.key.startsWith('grads.'))) task.dout = undefined;
  return { task, claims };
}

/** Second half: the float64 reference and the hint variants on the workers, the comparisons here. */
export async function runCheck(def: LayerDefinition, { task, claims }: PreparedCheck, run: Runner): Promise<CheckAnswer> {
  const reference = await run(def, task);

  const expected = new Map(claims.map((c) => [c.key, expectedOf(reference, c.key)]));
  const results: Record<string, CheckResult> = {};
  for (const c of claims) results[c.key] = verdict(c, expected.get(c.key)!);

  const failed = new Set(claims.filter((c) => !results[c.key].passed).map((c) => c.key));
  if (failed.size) {
    const variants = await variantsFor(def, task, reference, failed, run);
    const ctx = { def, task, outShape: outShapeOf(def, task), variants };
    for (const c of claims) if (failed.has(c.key)) results[c.key].hints = hintsFor(c, expected.get(c.key)!, ctx);
  }
  return { passed: failed.size === 0, results };
}
