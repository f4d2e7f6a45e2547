import { ProblemError } from '../errors/problems.ts';
import { threadLoans } from '../pool/slabs.ts';

/**
 * Triton's binary tensor data framing (API.md, "Binary bodies"): `Inference-Header-Content-Length: L`,
 * then L bytes of JSON, then a binary section that `bytes: [start, end]` tensors point into.
 */
export const HEADER_LENGTH = 'inference-header-content-length';

/**
 * The header's value as a byte count, or a 400 naming it: a decimal integer no larger than the body.
 * `undefined` means the request is not framed.
 */
export function headerLength(value: string | string[] | undefined, bodyLength: number): number | undefined {
  if (value === undefined) return undefined;
  const v = Array.isArray(value) ? value.join(',') : value;
  if (!/^\s*\d{1,15}\s*$/.test(v)) {
    throw ProblemError.at('invalidRequest', 'Inference-Header-Content-Length', `must be a decimal integer (the JSON header's byte length); got ${JSON.stringify(v.slice(0, 40))}`);
  }
  const n = Number(v);
  if (n > bodyLength) {
    throw ProblemError.at('invalidRequest', 'Inference-Header-Content-Length', `is ${n}, past the end of the ${bodyLength}-byte body`);
  }
  return n;
}

/**
 * The binary section of one framed request while it is decoded. Ranges are checked when a tensor's
 * header is read (so shapes and ranges fail before any number is copied), and every byte must end
 * up used by some tensor. Ranges may overlap; no alignment is asked.
 */
export class BinarySection {
  readonly bytes: Uint8Array;
  /** [start, end) pairs claimed so far */
  private readonly used: number[] = [];

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Checks `[start, end)` against the section and the expected byte count; remembers it as used. */
  claim(path: string, range: readonly [number, number], want: number, what: string): Uint8Array {
    const [start, end] = range;
    const size = this.bytes.length;
    if (start > end || end > size) {
      throw ProblemError.at('invalidTensor', `${path}.bytes`, `[${start}, ${end}] is outside the ${size}-byte binary section`);
    }
    if (end - start !== want) {
      throw ProblemError.at('invalidTensor', `${path}.bytes`, `[${start}, ${end}] holds ${end - start} bytes; ${what} needs ${want}`);
    }
    this.used.push(start, end);
    return this.bytes.subarray(start, end);
  }

  /** Whether [start, end) overlaps a range claimed by another tensor (the same range claimed once more counts). */
  overlapsAnother(range: readonly [number, number]): boolean {
    const [start, end] = range;
    let self = false;
    for (let i = 0; i < this.used.length; i += 2) {
      const s = this.used[i];
      const e = this.used[i + 1];
      if (s === start && e === end && !self) {
        self = true;
        continue;
      }
      if (s < end && start < e) return true;
    }
    return false;
  }

  /** A 400 naming the first run of bytes no tensor used: a client's offsets are off somewhere. */
  checkAllUsed(): void {
    const pairs: [number, number][] = [];
    for (let i = 0; i < this.used.length; i += 2) pairs.push([this.used[i], this.used[i + 1]]);
    pairs.sort((a, b) => a[0] - b[0]);
    let covered = 0;
    for (const [s, e] of pairs) {
      if (s > covered) break;
      covered = Math.max(covered, e);
    }
    if (covered < this.bytes.length) {
      const next = pairs.find(([s]) => s > covered)?.[0] ?? this.bytes.length;
      throw ProblemError.at(
        'invalidRequest',
        '(binary section)',
        `bytes [${covered}, ${next}] of the ${this.bytes.length}-byte binary section are used by no tensor: every byte after the JSON header must belong to a tensor`,
      );
    }
  }
}

let current: BinarySection | null = null;

/**
 * Runs `f` with `section` as the binary section that `bytes` tensors read from (null: the request is
 * not framed, and a `bytes` tensor is a 400). A worker decodes one request at a time, synchronously,
 * so a scoped module variable lets every decoder (layers, checks, other endpoints) see it unchanged.
 */
export function withSection<T>(section: BinarySection | null, f: () => T): T {
  const outer = current;
  current = section;
  try {
    return f();
  } finally {
    current = outer;
  }
}

/** The section of the request being decoded, or a 400 naming a `bytes` tensor sent without framing. */
export function sectionFor(path: string): BinarySection {
  if (!current) {
    throw ProblemError.at(
      'invalidTensor',
      `${path}.bytes`,
      'a bytes tensor needs a framed body: send the header Inference-Header-Content-Length with the JSON length, then the binary section after the JSON',
    );
  }
  return current;
}

/**
 * Empty arrays that stand for the concatenation of others (a split request's parts, merged for a
 * binary answer): the section takes the parts' bytes one after the other, and the whole is never built.
 */
const concatenations = new WeakMap<object, readonly ArrayBufferView[]>();

/** An empty array of like's type standing for `parts` concatenated, for BinaryWriter.add. Nothing may read its values. */
export function concatenationOf<A extends ArrayBufferView>(like: A, parts: readonly A[]): A {
  const stand = new (like.constructor as new (n: number) => A)(0);
  concatenations.set(stand, parts);
  return stand;
}

/** Collects the binary section of a framed answer: tensors' bytes appended in order, referenced by range. */
export class BinaryWriter {
  readonly chunks: Uint8Array[] = [];
  length = 0;

  add(view: ArrayBufferView): [number, number] {
    const start = this.length;
    for (const part of concatenations.get(view) ?? [view]) {
      const bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
      this.chunks.push(bytes);
      this.length += bytes.length;
    }
    return [start, this.length];
  }
}

/** An answer ready to write: its bytes, content type, and the JSON header's length when framed. */
export interface EncodedBody {
  body: Uint8Array;
  contentType: string;
  headerLength?: number;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * JSON text, framed with its binary section when one was written to. One buffer, ready to hand over:
 * a large one is memory this thread lends the main thread (src/pool/slabs.ts), which frees it once the
 * socket took the bytes, so the next answer of that size reuses pages already touched.
 */
export function assemble(json: string, writer: BinaryWriter | undefined): EncodedBody {
  const jsonBytes = Buffer.byteLength(json);
  const framed = writer !== undefined && writer.length > 0;
  const body = threadLoans.take(jsonBytes + (framed ? writer.length : 0));
  Buffer.from(body.buffer, body.byteOffset, body.byteLength).write(json, 0, 'utf8');
  if (!framed) return { body, contentType: JSON_TYPE };
  let o = jsonBytes;
  for (const c of writer.chunks) {
    body.set(c, o);
    o += c.length;
  }
  return { body, contentType: 'application/octet-stream', headerLength: jsonBytes };
}
