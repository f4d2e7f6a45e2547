import type { Factor, LayerDefinition, LayerTask, LocalMistake } from '../layers/types.ts';
import { formatShape } from '../kernels/types.ts';
import type { Claim } from './claims.ts';
import { bestScale, compare, inverse, matches, matchesTransposed, permutations, rel, sumLeading, unravel } from './compare.ts';
import { CHECK_THRESHOLD } from './schema.ts';

/**
 * Hints: a failed claim is compared with "mistaken references", each the answer a common mistake
 * would give; every one it matches within its threshold becomes a sentence. Candidates that need
 * a kernel run (a flipped kernel, a reversed momentum, eps outside the square root, …) come in as
 * `variants` (variants.ts, computed on the workers); the cheap ones (scale factors, transposes,
 * reshapes) are tried here.
 */
export interface Variant {
  key: string;
  data: ArrayLike<number>;
  hint: string;
}

export interface Expected {
  shape: number[] | null;
  data: ArrayLike<number>;
}

/**
 * The factors by which a gradient or an output is typically off, for this layer and request: the
 * layer's own (its definition's check.factors) first, then the batch size N (and, for a loss, C).
 */
function factors(def: LayerDefinition, task: LayerTask, outShape: readonly number[]): Factor[] {
  const x = task.inputs.x.shape;
  const N = x[0];
  const list: Factor[] = [...(def.check?.factors?.(task, outShape) ?? [])];
  if (def.loss) {
    list.unshift({
      value: N,
      label: 'N',
      times: (key) =>
        key === 'loss' ? 'a loss is the mean over the N samples, not their sum: divide by N' : 'the loss is a mean over N, so its gradient is divided by N too',
      over: () => 'is it divided by N twice?',
    });
    list.push({ value: x[1], label: 'C (the number of classes)' });
  } else {
    list.push({
      value: N,
      label: 'N (the batch size)',
      times: () => 'this layer takes no mean over the batch: is something summed or multiplied over N?',
      over: () => 'this layer takes no mean over the batch: do not divide by N',
    });
  }
  // Equal factors would give the same hint twice; the first, most specific label wins.
  const seen = new Set<number>();
  return list.filter((f) => f.value > 1 && !seen.has(f.value) && seen.add(f.value));
}

function scaleHints(c: Claim, e: Expected, fs: Factor[]): string[] {
  const hints: string[] = [];
  for (const f of fs) {
    if (matches(c.data, e.data, c.threshold, f.value)) {
      const why = f.times?.(c.key);
      hints.push(`${c.key} is ${f.label} = ${f.value} times the reference${why ? `: ${why}` : ''}`);
    } else if (matches(c.data, e.data, c.threshold, 1 / f.value)) {
      const why = f.over?.(c.key);
      hints.push(`${c.key} is 1/${f.value} of the reference (${f.label} = ${f.value})${why ? `: ${why}` : ''}`);
    }
  }
  if (hints.length) return hints;
  if (matches(c.data, e.data, c.threshold, -1)) return [`${c.key} has the opposite sign of the reference everywhere: look for a flipped sign`];
  const k = bestScale(c.data, e.data);
  if (k !== undefined && Math.abs(k - 1) > 1e-3 && k !== 0 && matches(c.data, e.data, c.threshold, k)) {
    return [`${c.key} is ${Number(k.toPrecision(4))} times the reference everywhere: a constant factor is missing or extra`];
  }
  return [];
}

const product = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

const MAX_PERMUTED_RANK = 5;

/** What the shape of a claim says, and whether its values are the reference's in another layout. */
function shapeHints(c: Claim, e: Expected, layout: string): { hints: string[]; comparable: boolean; explained: boolean } {
  const cs = c.shape!;
  const es = e.shape!;
  const same = cs.length === es.length && cs.every((d, i) => d === es[i]);
  const hints: string[] = [];
  if (product(cs) !== product(es)) {
    hints.push(`${c.key} has shape ${formatShape(cs)}; the reference has ${formatShape(es)}${layout}`);
    if (cs.length === es.length + 1 && cs.slice(1).every((d, i) => d === es[i]) && matches(sumLeading(c.data, cs[0]), e.data, c.threshold)) {
      hints.push(`summed over its first axis, ${c.key} matches the reference: did you forget to sum over the batch (axis 0)?`);
    }
    return { hints, comparable: false, explained: true };
  }
  // Same element count: an axis permutation of the reference (transposed), or a plain reshape.
  if (es.length >= 2 && es.length <= MAX_PERMUTED_RANK) {
    for (const perm of permutations(es.length)) {
      if (!perm.every((p, k) => es[p] === cs[k])) continue;
      if (!matchesTransposed(c.data, e.data, es, perm, c.threshold)) continue;
      const back = inverse(perm);
      const what = es.length === 2 ? 'the reference transposed' : `the reference with its axes in the order (${perm.join(', ')})`;
      hints.push(
        `${c.key} matches ${what}${same ? '' : `: it has shape ${formatShape(cs)}, the reference ${formatShape(es)}`}${layout}; ` +
          `send it transposed back (numpy: a.transpose(${back.join(', ')}))`,
      );
      return { hints, comparable: true, explained: true };
    }
  }
  if (same) return { hints, comparable: true, explained: false };
  if (matches(c.data, e.data, c.threshold)) {
    hints.push(`${c.key} holds the right values in row-major order but has shape ${formatShape(cs)}; the reference has ${formatShape(es)}${layout}: reshape it`);
    return { hints, comparable: true, explained: true };
  }
  hints.push(`${c.key} has shape ${formatShape(cs)}; the reference has ${formatShape(es)}${layout} (compared element by element in row-major order)`);
  return { hints, comparable: true, explained: false };
}

export interface HintContext {
  def: LayerDefinition;
  task: LayerTask;
  outShape: number[];
  variants: Variant[];
}

/** Everything recognisable about a failed claim, as sentences; the most specific first. */
export function hintsFor(c: Claim, e: Expected, ctx: HintContext): string[] {
  const hints: string[] = [];
  if (c.shape && e.shape) {
    const input = c.key.startsWith('grads.') ? ctx.def.inputs.find((i) => `grads.${i.name}` === c.key) : undefined;
    const layout = input ? ` (shaped like ${input.name}, ${input.layout})` : '';
    const shaped = shapeHints(c, e, layout);
    if (shaped.explained) return shaped.hints;
    hints.push(...shaped.hints);
  }
  const specific: string[] = [];
  for (const v of ctx.variants) if (v.key === c.key && matches(c.data, v.data, c.threshold) && !specific.includes(v.hint)) specific.push(v.hint);
  // A recognised mistake explains the numbers; a scale factor it implies would only distract.
  if (specific.length) return [...hints, ...specific];
  specific.push(...scaleHints(c, e, factors(ctx.def, ctx.task, ctx.outShape)));
  for (const local of ctx.def.check?.local ?? []) if (local.key === c.key) specific.push(...differsOnlyWhere(c, e, ctx.task, local));
  if (specific.length) return [...hints, ...specific];
  if (c.precision === 'float64' && c.threshold < CHECK_THRESHOLD.float32 && compare(c.data, e.data, 0).relError <= CHECK_THRESHOLD.float32) {
    hints.push(
      `${c.key} agrees with the reference to float32 precision but not at the threshold ${c.threshold}: ` +
        `if you compute in float32, send "dtype": "float32" (threshold ${CHECK_THRESHOLD.float32}); otherwise look for a float32 array on the way`,
    );
  }
  if (c.shape && e.shape) {
    const cmp = compare(c.data, e.data, c.threshold);
    const at = unravel(cmp.worst, e.shape);
    hints.push(`${cmp.mismatches} of ${c.data.length} elements are off by more than the threshold; the largest relative error is at ${formatShape(at)}`);
  }
  return hints;
}

/** A local mistake: the claim differs from the reference only at elements where `local.at` holds (relu at x == 0). */
function differsOnlyWhere(c: Claim, e: Expected, task: LayerTask, local: LocalMistake<unknown>): string[] {
  if (c.data.length !== e.data.length) return [];
  let count = 0;
  for (let i = 0; i < c.data.length; i++) {
    if (rel(c.data[i], e.data[i]) <= c.threshold) continue;
    if (!local.at(task, i)) return [];
    count++;
  }
  return count ? [local.hint(count)] : [];
}
