import type { z } from 'zod';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Looks through optional/default/prefault wrappers to the schema that does the work. */
function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const d = defOf(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return s;
  }
}

/** The field names of the object schema at `path` inside `schema`, or undefined if it is not an object. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let s = unwrap(schema);
  for (const p of path) {
    const shape = defOf(s).shape;
    if (!shape || typeof p !== 'string' || !(p in shape)) return undefined;
    s = unwrap(shape[p]);
  }
  const shape = defOf(s).shape;
  return shape ? Object.keys(shape) : undefined;
}
