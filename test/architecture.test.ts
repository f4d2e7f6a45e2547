import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The import rules are dependency-cruiser's (.dependency-cruiser.cjs, run by `npm test`); what an
// import graph cannot show is checked here.
const KERNELS = fileURLToPath(new URL('../src/kernels', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'assembly' ? [] : sources(join(dir, e.name))) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

/** The code of a file without its comments and string literals, roughly: enough to find an identifier. */
const code = (text: string) =>
  text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''");

describe('architecture', () => {
  it('src/kernels uses no `process` global (kernels are pure functions on typed arrays)', () => {
    const files = sources(KERNELS);
    expect(files.length).toBeGreaterThan(10);
    const offenders = files.filter((f) => /\bprocess\b/.test(code(readFileSync(f, 'utf8'))));
    expect(offenders).toEqual([]);
  });

  it("every rule's `from` path names files that exist (a renamed worker entry would otherwise pass silently)", () => {
    const config = createRequire(import.meta.url)('../.dependency-cruiser.cjs') as { forbidden: { name: string; from: { path: string } }[] };
    const files = sources(join(ROOT, 'src')).map((f) => f.slice(ROOT.length).replace(/\\/g, '/'));
    for (const rule of config.forbidden) {
      expect(files.some((f) => new RegExp(rule.from.path).test(f)), `${rule.name}: no file matches ${rule.from.path}`).toBe(true);
    }
  });
});
