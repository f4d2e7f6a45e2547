import type { FieldError } from './problems.ts';

/** The part of a zod issue we read (fastify-type-provider-zod hands them over as `params`). */
export interface IssueLike {
  code: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  values?: unknown[];
  keys?: string[];
  minimum?: number | bigint;
  maximum?: number | bigint;
  errors?: IssueLike[][];
}

/** `['inputs', 'x', 'shape', 1]` → `inputs.x.shape[1]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/**
 * Which branch of a tensor/labels union the client meant: arrays are the nested form (first branch),
 * objects with `bytes` the binary form (last branch), objects with `b64` or `dtype` the base64 form
 * (tensors: third of four branches; labels have no base64 form, so their binary one), other objects
 * the flat form (second branch).
 */
function chooseBranch(value: unknown, branches: IssueLike[][]): IssueLike[] | undefined {
  if (Array.isArray(value)) return branches[0];
  if (value === null || typeof value !== 'object') return undefined;
  const last = branches[branches.length - 1];
  if ('bytes' in value) return last;
  if ('b64' in value || 'dtype' in value) return branches.length === 4 ? branches[2] : last;
  return branches[1];
}

/**
 * Zod issues as located, human messages that say what was expected and what came.
 * `allowedKeys(path)` lists the fields an object at that path accepts, for unknown-field messages.
 */
export function describeIssues(
  issues: readonly IssueLike[],
  body: unknown,
  allowedKeys: (path: readonly PropertyKey[]) => string[] | undefined,
  base: readonly PropertyKey[] = [],
): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    const value = valueAt(body, path);
    const at = formatPath(path) || '(body)';
    switch (issue.code) {
      case 'invalid_union': {
        const branch = chooseBranch(value, issue.errors ?? []);
        if (branch) out.push(...describeIssues(branch, body, allowedKeys, path));
        else {
          out.push({
            path: at,
            message: `${value === undefined ? 'is required: ' : ''}expected ${path.at(-1) === 'y' ? 'integer labels: an array of integers or {shape: [N], data}' : 'a tensor: nested arrays of numbers, {shape, data} or {shape, dtype, b64}'}; got ${describeValue(value)}`,
          });
        }
        break;
      }
      case 'unrecognized_keys': {
        const allowed = allowedKeys(path);
        const keys = issue.keys ?? [];
        for (const key of keys) {
          out.push({
            path: formatPath([...path, key]),
            message: `unknown field "${key}"${allowed ? `; ${at === '(body)' ? 'the body' : at} accepts ${allowed.length ? allowed.map((k) => `"${k}"`).join(', ') : 'no fields'}` : ''}`,
          });
        }
        break;
      }
      case 'invalid_type':
        out.push({ path: at, message: value === undefined ? `is required (expected ${issue.expected})` : `expected ${issue.expected}, got ${describeValue(value)}` });
        break;
      case 'invalid_value':
        out.push({ path: at, message: `expected one of ${(issue.values ?? []).map((v) => JSON.stringify(v)).join(', ')}; got ${describeValue(value)}` });
        break;
      case 'too_small':
      case 'too_big':
        out.push({ path: at, message: `${issue.message.replace(/^Too (small|big): /, '')}; got ${describeValue(value)}` });
        break;
      default:
        out.push({ path: at, message: `${issue.message}; got ${describeValue(value)}` });
    }
  }
  return out;
}
