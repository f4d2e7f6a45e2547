import type { LayerDefinition } from '../layers/types.ts';

/**
 * `claimed` for each layer's own example body (the layer definitions' `example`), so that Try it
 * out in Swagger UI shows a real answer: some claims are right, some carry a typical mistake and
 * come back failed with a hint. test/check.test.ts posts every one and pins what it shows.
 */
export const EXAMPLE_CLAIMS: Readonly<Record<string, Record<string, unknown>>> = {
  // grads.w transposed: hint
  'affine': {"out": [[2.6, 4.9], [-0.4, 2.9]], "grads": {"x": [[0.5, 1, 0], [-1, 0, 2]], "w": [[1, 2, 3], [-1, 0, 1]], "b": [1, 1]}},
  // relu's gradient taken as 1 at x == 0: hint
  'relu': {"out": [[1, 0], [0, 4]], "grads": {"x": [[1, 0], [1, 1]]}},
  // all correct: passes
  'conv': {"out": [[[[2, 1, -4], [-3, 0, -7], [-16, -11, -22]]]], "grads": {"x": [[[[-4, 2, 0], [2, -4, 2], [0, 2, -4]]]], "w": [[[[6, 8, 3], [12, 15, 8], [7, 12, 14]]]], "b": [3]}},
  // all correct: passes
  'max-pool': {"out": [[[[6, 8], [14, 16]]]], "grads": {"x": [[[[0, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 1, 0, 1]]]]}},
  // grads.x not divided by the pool area: hint
  'avg-pool': {"out": [[[[3.5, 5.5], [11.5, 13.5]]]], "grads": {"x": [[[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]]]}},
  // state with momentum 0.1 instead of 0.9: hint
  'batchnorm': {"out": [[-1.2247425750014138, -1.2247442972928344], [0, 0], [1.2247425750014138, 1.2247442972928344]], "state": {"runningMean": [2.7, 5.4], "runningVar": [2.5, 9.7]}},
  // runningVar updated with the unbiased variance: hint
  'spatial-batchnorm': {"out": [[[[-1.3416354199689269, -0.447211806656309], [0.447211806656309, 1.3416354199689269]], [[-1.4999600011999599, -1.4999600011999599], [2.49996000119996, 2.49996000119996]]]], "state": {"runningVar": [0.16666666666666663, 0.033333333333333326]}},
  // out with eps outside the square root: hint
  'layernorm': {"out": [[-1.2247298715752986, 0, 1.2247298715752986], [-1.069040681952593, -0.2672601704881483, 1.336300852440741]], "grads": {"x": [[0.2041317996979287, -0.40824522863613005, 0.2041134289382015], [-0.1718105989493391, 0.25771600580549875, -0.08590540685615962]]}},
  // out normalized with the unbiased variance: hint
  'spatial-groupnorm': {"out": [[[[-0.35355250671311184, 0.35355250671311184], [1.0606575201393353, 1.7677625335655591]], [[-1.0606575201393353, -0.35355250671311184], [-0.35355250671311184, -1.0606575201393353]], [[0.16800499689236806, 0.16800499689236806], [-0.5040149906771041, -0.5040149906771041]], [[2.1840649596007844, -0.5040149906771041], [-1.1760349782465762, 0.16800499689236806]]]]},
  // loss summed over N instead of averaged: hint
  'softmax-loss': {"loss": 0.6370795392983715, "grads": {"x": [[-0.17049943055701605, 0.12121648535235695, 0.0492829452046591], [0.054301865153506185, -0.09876047210417538, 0.04445860695066913]]}},
  // all correct: passes
  'svm-loss': {"loss": 0, "grads": {"x": [[0, 0, 0], [0, 0, 0]]}},
};

export function checkExample(def: LayerDefinition): Record<string, unknown> {
  // A layer without a prepared claim (the test-only fault layer) claims its input as out: a valid body.
  const fallback = def.loss ? { loss: 0 } : { out: (def.example.inputs as Record<string, unknown>).x };
  return { ...def.example, claimed: EXAMPLE_CLAIMS[def.name] ?? fallback };
}

/**
 * Inputs for the gradcheck examples where the layer's own example sits on a kink on purpose (svm's
 * margin term of exactly 0). relu's keeps its x = 0: its answer shows the kink hint.
 */
const GRADCHECK_INPUTS: Readonly<Record<string, Record<string, unknown>>> = {
  'svm-loss': { x: [[2, 1.5, 0.1], [0.5, 2.5, 2]], y: [0, 1] },
};

/** The layer's own example, with the settings' defaults spelled out. */
export function gradcheckExample(def: LayerDefinition): Record<string, unknown> {
  const inputs = GRADCHECK_INPUTS[def.name];
  return { ...def.example, ...(inputs ? { inputs } : {}), step: 1e-5, samples: 64 };
}
