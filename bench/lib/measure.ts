/**
 * Timing: median wall-clock milliseconds of repeated runs after warm-up. No pass/fail anywhere:
 * these machines are noisy, so the harness reports medians and ratios from one run, nothing more.
 */

export interface Budget {
  /** runs before timing starts (JIT, first touch of memory, caches); the first one is timed */
  warmups: number;
  minReps: number;
  maxReps: number;
  /** keep repeating (up to maxReps) while the timed runs have taken less than this */
  budgetMs: number;
  /** a first run longer than this is the only sample (tfjs CPU's conv backward takes about a minute) */
  singleShotMs: number;
}

export const FULL: Budget = { warmups: 2, minReps: 7, maxReps: 100, budgetMs: 1500, singleShotMs: 3000 };
export const QUICK: Budget = { warmups: 1, minReps: 3, maxReps: 15, budgetMs: 200, singleShotMs: 800 };

export interface Timing {
  ms: number;
  reps: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Times fn (sync or async) under the budget. */
export async function measure(fn: () => unknown, budget: Budget): Promise<Timing> {
  const first = await timeOnce(fn);
  if (first > budget.singleShotMs) return { ms: first, reps: 1 };
  for (let i = 1; i < budget.warmups; i++) await timeOnce(fn);
  const times: number[] = [];
  const start = performance.now();
  while (times.length < budget.minReps || (times.length < budget.maxReps && performance.now() - start < budget.budgetMs)) {
    times.push(await timeOnce(fn));
  }
  return { ms: median(times), reps: times.length };
}

/** The clock stops before any await, so a synchronous kernel of a few microseconds pays no microtask hop. */
async function timeOnce(fn: () => unknown): Promise<number> {
  const t = performance.now();
  const r = fn();
  if (r instanceof Promise) await r;
  return performance.now() - t;
}
