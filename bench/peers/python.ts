/**
 * PyTorch and numpy peers: torch_bench.py under Debian's /usr/bin/python3 (not a pyenv python on
 * PATH), one thread. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for this child alone, so
 * OpenBLAS picks its own kernel for this CPU (the forced Haswell kernel runs a current numpy slower);
 * BENCH_OPENBLAS_CORETYPE=Haswell (or another name) forces one. The kernel used is in the report.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PeerContext, Sample } from '../lib/results.ts';

const PYTHON = '/usr/bin/python3';
const INSTALL = 'not installed: apt-get install python3-torch python3-numpy libopenblas0-pthread';

interface PyAnswer {
  info: string[];
  missing: Partial<Record<'torch' | 'numpy', string>>;
  samples: Sample[];
}

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (process.env.BENCH_OPENBLAS_CORETYPE) env.OPENBLAS_CORETYPE = process.env.BENCH_OPENBLAS_CORETYPE;
  return env;
}

export async function runPython(ctx: PeerContext): Promise<void> {
  if (!existsSync(PYTHON)) {
    ctx.results.implNotes.set('torch', INSTALL);
    ctx.results.implNotes.set('numpy', INSTALL);
    return;
  }
  const script = fileURLToPath(new URL('./torch_bench.py', import.meta.url));
  const child = spawn(PYTHON, [script], { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  child.stderr.on('data', (b: Buffer) => {
    stderr += b;
    for (const line of String(b).split('\n')) if (line.trim() && !line.startsWith(' ')) ctx.log(`python: ${line.trim()}`);
  });
  child.stdin.end(JSON.stringify({ cases: ctx.cases, budget: ctx.budget }));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  let answer: PyAnswer;
  try {
    answer = JSON.parse(stdout) as PyAnswer;
  } catch {
    const why = code === 0 ? 'no JSON answer' : `exit ${code}: ${stderr.trim().split('\n').at(-1) ?? ''}`;
    ctx.results.implNotes.set('torch', `torch_bench.py failed (${why.slice(0, 160)})`);
    ctx.results.implNotes.set('numpy', `torch_bench.py failed (${why.slice(0, 160)})`);
    return;
  }
  for (const line of answer.info) ctx.results.addInfo(line);
  for (const [impl, note] of Object.entries(answer.missing)) ctx.results.implNotes.set(impl as 'torch' | 'numpy', note);
  for (const s of answer.samples) ctx.results.add(s);
}
