/** Every ArrayBuffer under `value` (typed arrays' buffers), once: handed over rather than copied. Never Node's Buffer pool. */
export function transferablesOf(value: unknown, out = new Set<ArrayBuffer>()): ArrayBuffer[] {
  const walk = (v: unknown, depth: number) => {
    if (v === null || typeof v !== 'object' || depth > 12) return;
    if (ArrayBuffer.isView(v)) {
      if (!Buffer.isBuffer(v) && v.buffer instanceof ArrayBuffer) out.add(v.buffer);
      return;
    }
    if (v instanceof ArrayBuffer) {
      out.add(v);
      return;
    }
    for (const e of Array.isArray(v) ? v : Object.values(v)) walk(e, depth + 1);
  };
  walk(value, 0);
  return [...out];
}
