import { affine } from './affine.ts';
import { batchnorm, spatialBatchnorm } from './batchnorm.ts';
import { conv } from './conv.ts';
import { dropout } from './dropout.ts';
import { fault } from './fault.ts';
import { spatialGroupnorm } from './groupnorm.ts';
import { layernorm } from './layernorm.ts';
import { avgPooling, maxPooling } from './pooling.ts';
import { relu } from './relu.ts';
import { softmaxLoss } from './softmax-loss.ts';
import { svmLoss } from './svm-loss.ts';
import type { LayerDefinition } from './types.ts';

/** Every layer the service offers, in the order the docs list them. */
export const LAYERS: readonly LayerDefinition[] = [
  affine,
  relu,
  dropout,
  conv,
  maxPooling,
  avgPooling,
  batchnorm,
  spatialBatchnorm,
  layernorm,
  spatialGroupnorm,
  softmaxLoss,
  svmLoss,
];

/** Layers only a test configuration exposes over HTTP (workers can always run them). */
export const TEST_LAYERS: readonly LayerDefinition[] = [fault];

const byName = new Map([...LAYERS, ...TEST_LAYERS].map((l) => [l.name, l]));

/** Lookup by name. Which layers HTTP exposes is decided by the app, not here. */
export function findLayer(name: string): LayerDefinition | undefined {
  return byName.get(name);
}
