import { checkProbe } from '../check/probe.ts';
import { affine } from './affine.ts';
import { batchnorm, spatialBatchnorm } from './batchnorm.ts';
import { conv } from './conv.ts';
import { fault } from './fault.ts';
import { spatialGroupnorm } from './groupnorm.ts';
import { layernorm } from './layernorm.ts';
import { avgPool, maxPool } from './pools.ts';
import { relu } from './relu.ts';
import { softmaxLoss } from './softmax-loss.ts';
import { svmLoss } from './svm-loss.ts';
import type { LayerDefinition } from './types.ts';

/** Every layer the service offers, in the order the docs list them. */
export const LAYERS: readonly LayerDefinition[] = [
  affine,
  relu,
  conv,
  maxPool,
  avgPool,
  batchnorm,
  spatialBatchnorm,
  layernorm,
  spatialGroupnorm,
  softmaxLoss,
  svmLoss,
];

/** Layers only a test configuration exposes over HTTP (workers can always run them). */
export const TEST_LAYERS: readonly LayerDefinition[] = [fault];

/** Worker-only tasks that no route exposes: the check routes' perturbed forwards and variants. */
const INTERNAL_LAYERS: readonly LayerDefinition[] = [checkProbe((name) => byName.get(name))];

const byName = new Map([...LAYERS, ...TEST_LAYERS, ...INTERNAL_LAYERS].map((l) => [l.name, l]));

/** Worker-side lookup. Which layers HTTP exposes is decided by the app, not here. */
export function findLayer(name: string): LayerDefinition | undefined {
  return byName.get(name);
}
