/** The environment lines of the report: machine, Node, commit, and which GEMM our kernels run. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { firstLine } from './ours.ts';

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

export async function environment(): Promise<string[]> {
  const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src') ? ' (src/ has uncommitted changes)' : '';
  let backend: string;
  try {
    const gemm = (await import(new URL('../../src/kernels/gemm.ts', import.meta.url).href)) as { gemmBackend?: () => string };
    backend = gemm.gemmBackend?.() ?? 'unknown (no gemmBackend export)';
    if (backend === 'js') backend += ' — the wasm GEMM is not built or not supported: run `npm run build:wasm`';
  } catch (e) {
    backend = `unknown (${firstLine(e)})`;
  }
  return [
    `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; Node ${process.version} (V8 ${process.versions.v8})`,
    `commit ${process.env.BENCH_COMMIT ? `${process.env.BENCH_COMMIT} (a snapshot)` : git('rev-parse', '--short', 'HEAD') + dirty}; our GEMM backend: ${backend}`,
  ];
}

export const loadLine = () => loadavg().map((l) => l.toFixed(2)).join(' / ') + ' (1 / 5 / 15 min)';

/**
 * What src/ holds now: HEAD plus a hash of its uncommitted changes. Colleagues commit kernels while a
 * run goes on; a run whose fingerprint changed may have timed different code in different rows
 * (the service's worker loads src/ when it starts, after the in-process rows were imported).
 */
export function srcFingerprint(): string {
  const diff = git('diff', 'HEAD', '--', 'src') + git('status', '--porcelain', '--', 'src');
  return `${git('rev-parse', '--short', 'HEAD')}+${createHash('sha1').update(diff).digest('hex').slice(0, 8)}`;
}
