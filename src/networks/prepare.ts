import { ProblemError, type FieldError } from '../errors/problems.ts';
import { describeIssues, type IssueLike } from '../errors/zod-issues.ts';
import { sizeOf, type Tensor } from '../kernels/types.ts';
import type { Limits } from '../layers/prepare.ts';
import { checkRank, formatShape } from '../layers/shape-rules.ts';
import type { FloatInputSpec, LayerDefinition, LayerTask } from '../layers/types.ts';
import { decodeLabels, decodeTensor, readHeader, type TensorHeader } from '../tensors/decode.ts';
import type { Form } from '../tensors/wire.ts';
import { findRule, RULES } from '../optimizers/registry.ts';
import type { RuleDefinition } from '../optimizers/types.ts';
import { key, layerLabel, type NetworkPlan, type PlannedLayer, type PlannedUpdate } from './plan.ts';
import type { StepRequest } from './schema.ts';
import { NETWORK_STEP } from './step.ts';

/** Inputs a network never binds: x is the previous layer's output, dropout's mask is drawn by the service. */
const UNBINDABLE: Readonly<Record<string, string>> = {
  x: "x cannot be bound: each layer's x is the previous layer's output (the first layer's is the body's x)",
  mask: "dropout's mask cannot be bound: in a network the service draws it from the layer's params.seed",
};

export interface PreparedNetwork {
  task: LayerTask<NetworkPlan>;
  /** the wire form of the answer's tensors */
  form: Form;
  /** tensor elements the step holds at once, as counted against the limit */
  elements: number;
}

/** What the layers of a network may be: the layers the app exposes, by name. */
export type LayerCatalogue = ReadonlyMap<string, LayerDefinition>;

/** Problems about one layer name it first: `layers[2] (max-pool "pool1"): …`, paths made absolute. */
function inLayer<T>(l: { index: number; kind: string; name?: string; bind: Record<string, string> }, paths: (p: string) => string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof ProblemError)) throw e;
    const errors = e.errors?.map((fe) => ({ path: paths(fe.path), message: renameInputs(fe.message, l.bind) }));
    const again = new ProblemError(e.kind, renameInputs(e.message, l.bind), { errors, headers: e.headers, extensions: e.extensions });
    throw again.inContext(layerLabel(l));
  }
}

const invalid = (path: string, message: string) => ProblemError.at('invalidRequest', path, message);

/** A problem about a layer's place in the network: the detail starts with the layer, errors[] has the path. */
const layerProblem = (l: { index: number; kind: string; name?: string }, path: string, message: string) =>
  new ProblemError('invalidRequest', `${layerLabel(l)}: ${message}`, { errors: [{ path, message }] });

/** A layer's own words about `inputs.w` say which tensor that is: `w ("fc.w")`; `inputs.x` is its x. */
function renameInputs(message: string, bind: Record<string, string>): string {
  return message.replace(/\binputs\.([A-Za-z]+)/g, (all, input: string) => (input === 'x' || input === 'y' ? input : bind[input] ? `${input} (${JSON.stringify(bind[input])})` : all));
}

/** The float inputs of a layer that a network binds to named tensors. */
export const boundInputs = (def: LayerDefinition): FloatInputSpec[] =>
  def.inputs.filter((i): i is FloatInputSpec => i.kind === 'float' && !(i.name in UNBINDABLE));

/**
 * Every 4xx decision about a network step, in order of cost: the structure (kinds, names, bindings,
 * each layer's params), then every shape through the whole chain with the element count of what the
 * step will hold (413 before any number is read), then the numbers.
 */
export function prepareNetwork(body: StepRequest, limits: Limits, catalogue: LayerCatalogue): PreparedNetwork {
  const mode = body.mode;
  const tensors = Object.keys(body.params);
  const hasY = body.y !== undefined;

  // 1. Structure.
  const names = new Map<string, number>();
  const used = new Set<string>();
  const layers: PlannedLayer[] = body.layers.map((spec, index) => {
    const def = catalogue.get(spec.layer);
    if (!def) {
      throw invalid(`layers[${index}].layer`, `unknown layer "${spec.layer}"; the layers are ${[...catalogue.keys()].map((n) => `"${n}"`).join(', ')}`);
    }
    const l = { index, kind: def.name, name: spec.name };
    if (def.loss && index !== body.layers.length - 1) {
      throw layerProblem(l, `layers[${index}].layer`, `a loss layer may only come last (there are ${body.layers.length} layers)`);
    }
    if (spec.name !== undefined) {
      const before = names.get(spec.name);
      if (before !== undefined) throw layerProblem(l, `layers[${index}].name`, `"${spec.name}" is already the name of layers[${before}]: names must be unique`);
      names.set(spec.name, index);
    }
    if (def.state && spec.name === undefined) {
      throw layerProblem(l, `layers[${index}].name`, `a ${def.name} layer needs a name: it keys its ${def.state.what} in state and in the answer`);
    }
    const bind: Record<string, string> = {};
    const wanted = boundInputs(def);
    for (const [input, tensor] of Object.entries(spec.inputs ?? {})) {
      const path = `layers[${index}].inputs.${input}`;
      if (input in UNBINDABLE && def.inputs.some((i) => i.name === input)) throw layerProblem(l, path, UNBINDABLE[input]);
      if (!wanted.some((i) => i.name === input)) {
        const ok = wanted.map((i) => `"${i.name}"`).join(', ');
        throw layerProblem(l, path, `no input "${input}" to bind; ${ok ? `it binds ${ok}` : 'it binds none'}`);
      }
      if (!(tensor in body.params)) {
        throw layerProblem(l, path, `binds ${input} to "${tensor}", which is not in params (${tensors.length ? tensors.map((t) => `"${t}"`).join(', ') : 'none'})`);
      }
      bind[input] = tensor;
      used.add(tensor);
    }
    const missing = wanted.filter((i) => !(i.name in bind));
    if (missing.length) {
      throw layerProblem(
        l,
        `layers[${index}].inputs.${missing[0].name}`,
        `needs ${missing.map((i) => `${i.name} ${i.layout}`).join(', ')} bound to tensors in params, e.g. "inputs": {${missing.map((i) => `"${i.name}": "${spec.name ?? def.name}.${i.name}"`).join(', ')}}`,
      );
    }
    const parsed = def.params.safeParse(spec.params);
    if (!parsed.success) {
      const issues = describeIssues(parsed.error.issues as IssueLike[], spec.params ?? {}, () => undefined).map((e) => ({
        path: e.path === '(body)' ? 'params' : `params.${e.path}`,
        message: e.message,
      }));
      const errors = issues.map((e) => ({ path: `layers[${index}].${e.path}`, message: e.message }));
      throw new ProblemError('invalidParam', `${layerLabel(l)}: ${issues.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
    }
    const hasState = !!(def.state && body.state && spec.name! in body.state);
    const required = def.state?.required;
    if (required?.mode === mode && !hasState) {
      const keys = def.state!.keys.map((k, i) => (i === 0 ? `state.${spec.name}.${k}` : `.${k}`)).join(' and ');
      throw layerProblem(l, `state.${spec.name}`, `mode "${mode}" ${required.why}, so ${keys} are required`);
    }
    return { ...l, params: parsed.data, bind, hasState, stateful: !!def.state, stateKeys: def.state?.keys ?? [], loss: !!def.loss };
  });
  for (const t of tensors) {
    if (!used.has(t)) throw invalid(`params.${t}`, `"${t}" is bound by no layer: bind it (a layer's "inputs") or leave it out`);
  }
  for (const s of Object.keys(body.state ?? {})) {
    const at = names.get(s);
    if (at === undefined || !layers[at].stateful) {
      throw invalid(`state.${s}`, `no batchnorm-family layer is named "${s}"${at === undefined ? '' : ` (layers[${at}] is ${layers[at].kind})`}: state is keyed by the name of such a layer`);
    }
  }
  const last = layers.at(-1)!;
  const withLoss = last.loss && hasY;
  const update = body.update && planUpdate(body, withLoss, last);

  // 2. Shapes of what was sent, and the element count so far.
  const headers = new Map<string, TensorHeader>();
  let elements = 0;
  const header = (k: string, path: string, wire: Parameters<typeof readHeader>[1]) => {
    const h = readHeader(path, wire, limits.maxRank);
    headers.set(k, h);
    elements += h.size;
    return h;
  };
  const xh = header(key.x, 'x', body.x);
  for (const t of tensors) header(key.param(t), `params.${t}`, body.params[t]);
  for (const [layer, stats] of Object.entries(body.state ?? {})) {
    for (const stat of layers[names.get(layer)!].stateKeys) header(key.state(layer, stat), `state.${layer}.${stat}`, stats[stat as keyof typeof stats]);
  }
  if (update) {
    const rule = findRule(update.plan.rule)!;
    for (const [name, keys] of Object.entries(body.update!.state ?? {})) {
      for (const k of rule.state) {
        if (k.kind !== 'tensor' || keys[k.name] === undefined) continue;
        header(key.rule(name, k.name), `update.state.${name}.${k.name}`, keys[k.name] as Parameters<typeof readHeader>[1]);
      }
    }
  }
  const labels = body.y === undefined ? undefined : Array.isArray(body.y) ? body.y.length : body.y.shape[0];
  elements += labels ?? 0;
  const tooMany = (what: string) =>
    new ProblemError('tooManyElements', `${what}: the step would hold ${elements} tensor elements; the limit is ${limits.maxElements}`);
  if (elements > limits.maxElements) throw tooMany('the request');

  if (update) {
    for (const [k, h] of headers) {
      if (!k.startsWith('rule:')) continue;
      const name = h.path.split('.').slice(2, -1).join('.');
      const w = headers.get(key.param(name))!.shape;
      if (h.shape.length !== w.length || h.shape.some((d, i) => d !== w[i])) {
        throw ProblemError.at('shapeMismatch', h.path, `has shape ${formatShape(h.shape)}; ${update.plan.rule} keeps one value per element of params.${name} ${formatShape(w)}, so it must be ${formatShape(w)}`);
      }
    }
    // The answer adds the updated tensors and the rule's tensor state for each of them.
    const perTensor = 1 + update.tensorKeys;
    for (const t of tensors) elements += perTensor * headers.get(key.param(t))!.size;
    if (elements > limits.maxElements) throw tooMany(`with update (${update.plan.rule})`);
  }

  // 3. Every shape along the chain. Each output is held until backward, and backward makes a
  // gradient like each layer's x and like each bound tensor (summed into one per name at the end).
  let shape = xh.shape;
  for (const l of layers) {
    if (l.loss && !withLoss) break;
    const def = catalogue.get(l.kind)!;
    const from = l.index === 0 ? 'the body\'s x' : `the output of ${layerLabel(layers[l.index - 1])}`;
    const paths = (p: string) => {
      if (p === 'inputs.x') return l.index === 0 ? 'x' : `layers[${l.index}].x`;
      if (p === 'inputs.y') return 'y';
      const input = /^inputs\.([^.[]+)/.exec(p)?.[1];
      if (input && l.bind[input]) return `params.${l.bind[input]}${p.slice(`inputs.${input}`.length)}`;
      if (p.startsWith('state.')) return `state.${l.name}.${p.slice(6)}`;
      return `layers[${l.index}].${p}`;
    };
    const out = inLayer(l, paths, () => {
      const shapes: Record<string, number[]> = { x: shape };
      for (const [input, t] of Object.entries(l.bind)) shapes[input] = headers.get(key.param(t))!.shape;
      for (const spec of def.inputs) {
        if (spec.kind !== 'float') continue;
        if (spec.name === 'x') {
          try {
            checkRank(spec, shape);
          } catch (e) {
            if (!(e instanceof ProblemError)) throw e;
            const want = typeof spec.rank === 'number' ? `${spec.rank}-D` : spec.rank === 'any' ? 'any rank' : `at least ${spec.rank.min}-D`;
            throw betweenLayers(l, layers, shape, `its x must be ${want} ${spec.layout}`);
          }
        } else if (shapes[spec.name]) checkRank(spec, shapes[spec.name]);
      }
      const state: Record<string, number[]> = {};
      if (l.hasState) for (const stat of l.stateKeys) state[stat] = headers.get(key.state(l.name!, stat))!.shape;
      try {
        return def.outShape({ shapes, labels: l.loss ? { y: labels! } : {}, params: l.params, mode, state });
      } catch (e) {
        // A rule about x names the layer's x; say where that x comes from, and its shape.
        if (e instanceof ProblemError && l.index > 0 && e.kind === 'shapeMismatch') {
          throw new ProblemError(e.kind, `${e.message} (x ${formatShape(shape)} is ${from})`, { errors: e.errors });
        }
        throw e;
      }
    });
    if (l.loss) break;
    const outSize = sizeOf(out);
    elements += outSize;
    if (withLoss) {
      elements += sizeOf(shape);
      for (const t of Object.values(l.bind)) elements += headers.get(key.param(t))!.size;
    }
    if (elements > limits.maxElements) throw tooMany(`${layerLabel(l)} makes out ${formatShape(out)}`);
    shape = out;
  }

  // 4. The numbers.
  const dtype = body.dtype;
  const inputs: Record<string, Tensor> = {};
  for (const [k, h] of headers) inputs[k] = decodeTensor(h, dtype);
  const y = body.y === undefined ? undefined : decodeLabels('y', body.y);
  if (update) {
    const rule = findRule(update.plan.rule)!;
    for (const k of rule.state) {
      if (k.kind !== 'tensor' || !k.nonNegative) continue;
      for (const name of tensors) {
        const t = inputs[key.rule(name, k.name)];
        if (!t) continue;
        for (let i = 0; i < t.data.length; i++) {
          if (t.data[i] < 0) throw ProblemError.at('invalidParam', `update.state.${name}.${k.name}[${i}]`, `is ${t.data[i]}; ${k.name} is a moving average of squares, so it must be >= 0`);
        }
      }
    }
  }
  const plan: NetworkPlan = {
    op: 'step',
    layers,
    tensors,
    loss: withLoss,
    reg: body.reg,
    regularized: [...new Set(layers.flatMap((l) => (l.bind.w === undefined ? [] : [l.bind.w])))],
    ...(update ? { update: update.plan } : {}),
  };
  const task: LayerTask<NetworkPlan> = { layer: NETWORK_STEP, dtype, mode, params: plan, inputs, labels: y ? { y } : {}, state: {} };

  // Rules that need values (label ranges, running variances), on each layer's view of the task.
  shape = inputs[key.x].shape;
  for (const l of layers) {
    const def = catalogue.get(l.kind)!;
    if (def.validate && (!l.loss || withLoss)) {
      const view: LayerTask = {
        layer: l.kind,
        dtype,
        mode,
        params: l.params,
        inputs: { x: { shape, data: inputs[key.x].data.subarray(0, 0) }, ...Object.fromEntries(Object.entries(l.bind).map(([i, t]) => [i, inputs[key.param(t)]])) },
        labels: l.loss && y ? { y } : {},
        state: l.hasState ? Object.fromEntries(l.stateKeys.map((k) => [k, inputs[key.state(l.name!, k)]])) : {},
      };
      inLayer(l, (p) => (p.startsWith('inputs.y') ? `y${p.slice(8)}` : p.startsWith('state.') ? `state.${l.name}.${p.slice(6)}` : `layers[${l.index}].${p}`), () => def.validate!(view));
    }
    if (l.loss) break;
    shape = outShapes(l, shape, headers, catalogue, mode);
  }

  return { task, form: body.encoding ?? xh.form, elements };
}

/** The output shape of a layer already checked in step 3 (recomputed: shape rules are cheap). */
function outShapes(l: PlannedLayer, x: number[], headers: Map<string, TensorHeader>, catalogue: LayerCatalogue, mode: 'train' | 'test'): number[] {
  const shapes: Record<string, number[]> = { x };
  for (const [input, t] of Object.entries(l.bind)) shapes[input] = headers.get(key.param(t))!.shape;
  return catalogue.get(l.kind)!.outShape({ shapes, labels: {}, params: l.params, mode, state: {} });
}

/** A shape mismatch between consecutive layers: both layers and both shapes. */
function betweenLayers(l: PlannedLayer, layers: PlannedLayer[], shape: number[], want: string): ProblemError {
  const from = l.index === 0 ? "the body's x" : `the output of ${layerLabel(layers[l.index - 1])}`;
  const detail = `${want}, but it is ${from}, shape ${formatShape(shape)}`;
  const errors: FieldError[] = [{ path: 'inputs.x', message: detail }];
  return new ProblemError('shapeMismatch', detail, { errors });
}

/**
 * The update's structure: a loss to step along, a known rule, its params, and per tensor only the
 * rule's state keys (integers checked here; tensors are read with the other tensors).
 */
function planUpdate(body: StepRequest, withLoss: boolean, last: PlannedLayer): { plan: PlannedUpdate; tensorKeys: number } {
  const u = body.update!;
  if (!withLoss) {
    const why = !last.loss ? `the last layer, ${layerLabel(last)}, is not a loss` : 'y is missing';
    throw invalid('update', `an update steps along the gradient of the loss: it needs a loss layer last and y (${why})`);
  }
  const rule: RuleDefinition | undefined = findRule(u.rule);
  if (!rule) throw invalid('update.rule', `unknown update rule "${u.rule}"; the rules are ${RULES.map((r) => `"${r.name}"`).join(', ')}`);
  const parsed = rule.params.safeParse(u.params);
  if (!parsed.success) {
    const errors = describeIssues(parsed.error.issues as IssueLike[], u.params ?? {}, () => undefined).map((e) => ({
      path: e.path === '(body)' ? 'update.params' : `update.params.${e.path}`,
      message: e.message,
    }));
    throw new ProblemError('invalidParam', `update (${rule.name}): ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
  }
  const integers: Record<string, Record<string, number>> = {};
  for (const [name, keys] of Object.entries(u.state ?? {})) {
    if (!(name in body.params)) {
      throw invalid(`update.state.${name}`, `"${name}" is not a tensor in params: update.state is keyed by the names in params`);
    }
    for (const [k, v] of Object.entries(keys)) {
      const spec = rule.state.find((s) => s.name === k);
      const path = `update.state.${name}.${k}`;
      if (!spec) {
        const ok = rule.state.map((s) => `"${s.name}"`).join(', ');
        throw invalid(path, `unknown state key "${k}"; ${rule.name} keeps ${ok || 'no state'}`);
      }
      if (spec.kind === 'integer') {
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(path, `${k} is a step count: an integer >= 0; got ${JSON.stringify(v)}`);
        (integers[name] ??= {})[k] = v;
      } else if (typeof v !== 'object' || v === null) {
        throw invalid(path, `expected a tensor: nested arrays of numbers, {shape, data} or {shape, dtype, b64}; got ${JSON.stringify(v)}`);
      }
    }
  }
  return { plan: { rule: rule.name, params: parsed.data, integers }, tensorKeys: rule.state.filter((s) => s.kind === 'tensor').length };
}
