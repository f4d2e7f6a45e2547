/**
 * Validation of Kubernetes objects against the API schema, with the npm package `kubernetes-models`
 * (its validators are generated from the Kubernetes OpenAPI document), plus what it does not do
 * itself: reject fields the schema does not define (a misspelled `readinesProbe` or `paht` would
 * otherwise pass, and the API server would drop them or refuse the object).
 */

interface Validating {
  validate(): void;
}
type ModelClass = { prototype: Validating };

/** `apps/v1` + `Deployment` -> the model class, from kubernetes-models/apps/v1/Deployment. */
export async function modelClass(apiVersion: string, kind: string): Promise<ModelClass> {
  if (!/^([a-z0-9.]+\/)?v\d+((alpha|beta)\d+)?$/.test(apiVersion) || !/^[A-Z][A-Za-z]+$/.test(kind)) {
    throw new Error(`not an apiVersion/kind: ${apiVersion} ${kind}`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
  } catch {
    throw new Error(`kubernetes-models has no ${kind} in ${apiVersion}`);
  }
  const cls = mod[kind] as ModelClass | undefined;
  if (typeof cls?.prototype?.validate !== 'function') throw new Error(`kubernetes-models/${apiVersion}/${kind} has no model class`);
  return cls;
}

/**
 * Wraps `value` so that every property the validator reads is recorded in `read`; every property that
 * exists is recorded in `present`. Paths are JSON pointers ("/spec/template/spec/containers/0/name").
 */
function tracked(value: unknown, path: string, read: Set<string>, present: Set<string>): unknown {
  if (value === null || typeof value !== 'object') return value;
  for (const k of Object.keys(value)) present.add(`${path}/${k}`);
  const children = new Map<string, unknown>();
  return new Proxy(value as Record<string, unknown>, {
    get(target, key, receiver) {
      if (typeof key === 'string' && Object.hasOwn(target, key)) {
        read.add(`${path}/${key}`);
        if (!children.has(key)) children.set(key, tracked(target[key], `${path}/${key}`, read, present));
        return children.get(key);
      }
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === 'string') read.add(`${path}/${key}`);
      return Reflect.has(target, key);
    },
  });
}

export interface SchemaReport {
  /** the schema's own complaints (types, required fields, enums, formats), or [] */
  errors: string[];
  /** JSON pointers of fields that the schema does not define */
  unknownFields: string[];
}

/**
 * Validates one object (parsed YAML) against the schema of its apiVersion and kind.
 *
 * Unknown fields: the generated validators look up exactly the properties that the schema defines
 * (and iterate over every key of free-form maps such as labels or resource quantities), so a property
 * of the object that the validator never reads is one the schema does not know.
 */
export async function checkAgainstSchema(object: { apiVersion: string; kind: string }): Promise<SchemaReport> {
  const cls = await modelClass(object.apiVersion, object.kind);
  const read = new Set<string>();
  const present = new Set<string>();
  const errors: string[] = [];
  try {
    // the model's validate() runs the generated validator on `this`: here, the tracked object
    cls.prototype.validate.call(tracked(structuredClone(object), '', read, present));
  } catch (e) {
    errors.push((e as Error).message);
  }
  return { errors, unknownFields: [...present].filter((p) => !read.has(p)) };
}
