import { z } from 'zod';
import { GRADCHECK } from '../check/schema.ts';
import { Dtype, FORMS, LabelsSchema, TensorSchema, type WireLabels, type WireTensor } from '../tensors/wire.ts';

/**
 * POST /v1/networks/step (API.md v1.1, "Networks"): a sequence of registered layers, the named
 * tensors they are bound to, the batch and its labels. Each layer's own `params` are checked by that
 * layer's schema in prepare.ts (so a bad param is named `layers[2].params.stride`), not here.
 */

/** Layers in one network: far more than any cs231n model, few enough that a typo'd loop is refused. */
export const MAX_NETWORK_LAYERS = 256;

const TensorName = z
  .string()
  .min(1)
  .max(128)
  .meta({ description: 'a name chosen by the client, e.g. "conv1.w"', example: 'conv1.w' });

export const NetworkLayer = z
  .strictObject({
    layer: z.string().min(1).meta({ description: 'a layer of GET /v1/layers, e.g. "conv"', example: 'affine' }),
    name: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .meta({ description: 'unique among the layers; required on batchnorm-family layers (it keys `state`); named in errors' }),
    params: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: "the layer's hyper-parameters, as POST /v1/layers/{layer} takes them (defaults apply)" }),
    inputs: z
      .record(z.string(), TensorName)
      .optional()
      .meta({ description: 'binds each of the layer\'s tensor inputs other than x (w, b, gamma, beta) to a name in `params`' }),
  })
  .meta({ id: 'NetworkLayer' });

const RunningStats = z.strictObject({ runningMean: TensorSchema, runningVar: TensorSchema });

export const UpdateSchema = z
  .strictObject({
    rule: z.string().min(1).meta({ description: 'an update rule of /v1/optimizers: sgd, sgd-momentum, rmsprop, adam', example: 'adam' }),
    params: z.record(z.string(), z.unknown()).optional().meta({ description: "the rule's params (learningRate, …), defaults as /v1/optimizers/{rule}" }),
    state: z
      .record(TensorName, z.record(z.string(), z.union([TensorSchema, z.int().min(0)])))
      .optional()
      .meta({ description: "per tensor name, the rule's state from the previous step (e.g. adam's m, v, t), as the previous answer's updateState gave it; missing: the rule's defaults" }),
  })
  .meta({ description: 'one step of an update rule over every tensor in params, with its gradient' });

const stepFields = {
  dtype: Dtype.default('float64'),
  mode: z
    .enum(['train', 'test'])
    .default('train')
    .meta({ description: 'for every layer with modes (batchnorm family, dropout): train uses batch statistics and returns state' }),
  layers: z
    .array(NetworkLayer)
    .min(1)
    .max(MAX_NETWORK_LAYERS)
    .meta({ description: "run in order: each layer's x is the previous layer's output, the first's is `x`; a loss layer may only come last" }),
  params: z
    .record(TensorName, TensorSchema)
    .default({})
    .meta({ description: 'the learnable tensors, by name; each must be bound by some layer' }),
  state: z
    .record(z.string(), RunningStats)
    .optional()
    .meta({ description: 'running statistics per batchnorm-family layer `name`; zeros when omitted in train mode, required in test mode' }),
  x: TensorSchema.meta({ description: "the batch: the first layer's x; the answer's tensors take its form" }),
  y: LabelsSchema.optional().meta({ description: 'labels for the loss layer; without them (or without a loss) the answer is the scores `out`' }),
  reg: z
    .number()
    .min(0)
    .default(0)
    .meta({ description: 'L2 strength (cs231n): adds 0.5·reg·Σ‖w‖² to the loss over every distinct tensor bound to an input named w, and reg·w to its gradient' }),
};

const encoding = z.enum(FORMS).optional().meta({ description: 'form of the answer\'s tensors; default: the form of x' });

/** A two-layer net (affine - relu - affine - softmax), small enough for Swagger UI's Try it out. */
export const STEP_EXAMPLE = {
  layers: [
    { layer: 'affine', name: 'fc1', inputs: { w: 'W1', b: 'b1' } },
    { layer: 'relu' },
    { layer: 'affine', name: 'fc2', inputs: { w: 'W2', b: 'b2' } },
    { layer: 'softmax-loss' },
  ],
  params: {
    W1: [[0.2, -0.1, 0.4], [0.3, 0.5, -0.2]],
    b1: [0.01, 0.1, 0.03],
    W2: [[0.1, -0.3], [0.2, 0.4], [-0.5, 0.1]],
    b2: [0, 0],
  },
  x: [[1, 2], [-1, 0.5], [0.3, -2]],
  y: [0, 1, 1],
  reg: 0.01,
};

export const stepRequestSchema = z
  .strictObject({ ...stepFields, update: UpdateSchema.optional(), encoding })
  .meta({ example: { ...STEP_EXAMPLE, update: { rule: 'adam', params: { learningRate: 0.01 } } } });

export type NetworkLayerSpec = z.infer<typeof NetworkLayer>;

/** The validated body (after zod's defaults), as prepare.ts reads it. */
export interface StepRequest {
  dtype: z.infer<typeof Dtype>;
  mode: 'train' | 'test';
  layers: NetworkLayerSpec[];
  params: Record<string, WireTensor>;
  state?: Record<string, { runningMean: WireTensor; runningVar: WireTensor }>;
  x: WireTensor;
  y?: WireLabels;
  reg: number;
  update?: z.infer<typeof UpdateSchema>;
  encoding?: (typeof FORMS)[number];
}

export type NetworkGradcheckRequest = Omit<StepRequest, 'encoding' | 'update'> & { step: number; samples: number; seed: number; threshold: number };

const named = (description: string) => z.record(z.string(), TensorSchema).meta({ description });

export const stepResponseSchema = z.strictObject({
  loss: z.number().optional().meta({ description: 'data loss (mean over N) plus the L2 term; iff the last layer is a loss and y was sent' }),
  out: TensorSchema.optional().meta({ description: 'the scores: the output of the last layer before any loss; iff no loss was computed' }),
  grads: named('the gradient of the loss for every tensor in params (summed over the layers sharing it)').optional(),
  state: z.record(z.string(), RunningStats).optional().meta({ description: 'updated running statistics per batchnorm-family layer (train mode)' }),
  params: named('the tensors after one step of the update rule; iff update').optional(),
  updateState: z
    .record(z.string(), z.record(z.string(), z.unknown()))
    .optional()
    .meta({ description: "the rule's next state per tensor, to send back with the next step; iff update" }),
});

/** POST /v1/networks/step/gradcheck: the step's body (without update and encoding) and the layer gradcheck's settings. */
export const gradcheckRequestSchema = z
  .strictObject({
    ...stepFields,
    step: z.number().gt(0).max(1).default(GRADCHECK.step).meta({ description: 'h of the centered difference (L(w + h) − L(w − h)) / 2h' }),
    samples: z
      .int()
      .min(1)
      .max(GRADCHECK.maxSamples)
      .default(GRADCHECK.samples)
      .meta({ description: 'coordinates checked per tensor in params; a tensor with more elements is sampled (without repeats)' }),
    seed: z.int().min(0).max(2 ** 32 - 1).default(GRADCHECK.seed).meta({ description: 'seed of the sampled coordinates' }),
    threshold: z.number().gt(0).max(1).default(GRADCHECK.threshold).meta({ description: 'pass when the relative error of every checked tensor is at most this' }),
  })
  .meta({ example: { ...STEP_EXAMPLE, samples: 8 } });
