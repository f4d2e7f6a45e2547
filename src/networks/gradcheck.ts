import { coordsPerTask, probeRows, sampleIndices, tensorVerdict, type GradcheckAnswer, type GradcheckResult } from '../check/gradcheck.ts';
import type { LayerResult, LayerTask } from '../layers/types.ts';
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
  const per = coordsPerTask(coords.length, workers);
  const probes: LayerTask<NetworkPlan>[] = [];
  for (let o = 0; o < coords.length; o += per) probes.push({ ...task, params: { ...plan, op: 'perturb', step, coords: coords.slice(o, o + per) } });
  const rows = await probeRows(probes, run, workers, `forwards of the ${plan.layers.length}-layer network`, 'a smaller batch');

  const results: Record<string, GradcheckResult> = {};
  for (const tensor of plan.tensors) {
    const at = coords.flatMap((c, k) => (c.tensor === tensor ? [{ k, index: c.index }] : []));
    results[`grads.${tensor}`] = tensorVerdict(`grads.${tensor}`, task.inputs[key.param(tensor)].shape, analytic.grads![key.grad(tensor)].data, rows, at, step, threshold);
  }
  return { passed: Object.values(results).every((r) => r.passed), step, threshold, objective: 'loss', results };
}
