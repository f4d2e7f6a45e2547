import { unravel, REL_ERROR_FLOOR } from '../check/compare.ts';
import { gradcheckHints, sampleIndices, COORDS_PER_TASK, type GradcheckAnswer, type GradcheckResult } from '../check/gradcheck.ts';
import { ProblemError } from '../errors/problems.ts';
import type { LayerResult, LayerTask } from '../layers/types.ts';
import { ClientGoneError } from '../pool/pool.ts';
import { key, type NetworkPlan } from './plan.ts';
import type { PreparedNetworkGradcheck } from './plan.ts';

/** Runs a network task (a step or a probe) on the worker pool. */
export type NetworkRunner = (task: LayerTask<NetworkPlan>) => Promise<LayerResult>;

/**
 * POST /v1/networks/step/gradcheck: the step's gradient of the loss (reg included) against centered
 * differences of the whole network's loss, in float64, at every coordinate of each tensor in params
 * or at `samples` of them drawn with `seed`. As the layer gradcheck: the perturbed forwards run on the
 * workers, COORDS_PER_TASK coordinates per task, at most one task per worker at a time; the answer
 * has its shape, keyed `grads.<name>`.
 */
export async function runNetworkGradcheck(prepared: PreparedNetworkGradcheck, run: NetworkRunner, workers: number): Promise<GradcheckAnswer> {
  const { task } = prepared;
  const plan = task.params;
  const { step, samples, seed, threshold } = prepared.body;
  const analytic = await run(task);

  // Each tensor draws from its own stream, so adding a tensor does not move another's coordinates.
  const coords = plan.tensors.flatMap((tensor, k) =>
    sampleIndices(task.inputs[key.param(tensor)].data.length, samples, (seed + k * 0x9e3779b9) >>> 0).map((index) => ({ tensor, index })),
  );
  const parts = Math.max(Math.min(workers, coords.length), Math.ceil(coords.length / COORDS_PER_TASK));
  const per = Math.ceil(coords.length / parts);
  const probes: LayerTask<NetworkPlan>[] = [];
  for (let o = 0; o < coords.length; o += per) probes.push({ ...task, params: { ...plan, op: 'perturb', step, coords: coords.slice(o, o + per) } });
  const rows = new Float64Array(coords.length * 3);
  let o = 0;
  for (const p of await runProbes(probes, run, workers, plan.layers.length)) {
    rows.set(p.out!.data, o);
    o += p.out!.data.length;
  }

  const results: Record<string, GradcheckResult> = {};
  for (const tensor of plan.tensors) {
    const x = task.inputs[key.param(tensor)];
    const grad = analytic.grads![key.grad(tensor)].data;
    let relError = 0;
    let maxAbsError = 0;
    let worst = -1;
    let checked = 0;
    coords.forEach((c, k) => {
      if (c.tensor !== tensor) return;
      checked++;
      const n = rows[3 * k];
      const a = grad[c.index];
      const r = Math.abs(n - a) / Math.max(REL_ERROR_FLOOR, Math.abs(n) + Math.abs(a));
      if (worst < 0 || r > relError) {
        relError = r;
        worst = k;
      }
      maxAbsError = Math.max(maxAbsError, Math.abs(n - a));
    });
    const w = coords[worst];
    const index = unravel(w.index, x.shape);
    const passed = relError <= threshold;
    results[`grads.${tensor}`] = {
      passed,
      relError,
      maxAbsError,
      checked,
      of: x.data.length,
      sampled: checked < x.data.length,
      worst: { index, numeric: rows[3 * worst], analytic: grad[w.index] },
      hints: passed ? [] : gradcheckHints(`grads.${tensor}`, index, rows[3 * worst], grad[w.index], rows[3 * worst + 1], rows[3 * worst + 2], step),
    };
  }
  return { passed: Object.values(results).every((r) => r.passed), step, threshold, objective: 'loss', results };
}

/** The probes, at most `workers` in flight; the first failure stops the rest (a timeout wins over the cancellations it caused). */
async function runProbes(tasks: LayerTask<NetworkPlan>[], run: NetworkRunner, workers: number, layers: number): Promise<LayerResult[]> {
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
  if (!errors.length) return results;
  const error = errors.find((e) => !(e instanceof ClientGoneError)) ?? errors[0];
  if (error instanceof ProblemError && error.kind === 'timeout') {
    const per = tasks[0].params.coords!.length;
    throw new ProblemError(
      'timeout',
      `one task of the numeric gradient (${per} coordinates, ${2 * per + 1} forwards of the ${layers}-layer network) ran past the compute time limit; send fewer samples or a smaller batch`,
    );
  }
  throw error;
}
