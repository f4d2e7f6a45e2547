import { affine } from './affine.ts';
import { relu } from './relu.ts';
import { softmaxLoss } from './softmax-loss.ts';
import { svmLoss } from './svm-loss.ts';
import type { LayerDefinition } from './types.ts';

/** Every layer the service offers, in the order the docs list them. */
export const LAYERS: readonly LayerDefinition[] = [affine, relu, softmaxLoss, svmLoss];

const byName = new Map(LAYERS.map((l) => [l.name, l]));

export function findLayer(name: string): LayerDefinition | undefined {
  return byName.get(name);
}

export const layerNames = (): string[] => LAYERS.map((l) => l.name);
