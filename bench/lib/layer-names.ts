import type { Kind } from './cases.ts';

/** The service's layer name for each bench kind (POST /v1/layers/{name}, the registry). */
export const LAYER: Record<Kind, string> = {
  conv: 'conv', 'max-pool': 'max-pool', 'avg-pool': 'avg-pool', affine: 'affine',
  batchnorm: 'batchnorm', 'spatial-batchnorm': 'spatial-batchnorm', layernorm: 'layernorm',
  groupnorm: 'spatial-groupnorm', relu: 'relu', dropout: 'dropout', 'softmax-loss': 'softmax-loss', 'svm-loss': 'svm-loss',
};
