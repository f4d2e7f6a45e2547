import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './helpers/server.ts';

// The README's Python example (examples/check_conv.py), run as written against the real server.
// Debian's python3 with numpy and requests; the python on PATH may be another (pyenv), so not that one.
const PYTHON = process.env.PYTHON_PATH ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../examples/check_conv.py', import.meta.url));
const probe = spawnSync(PYTHON, ['-c', 'import numpy, requests'], { encoding: 'utf8' });
const available = probe.status === 0;
if (!available) {
  const why = probe.error ? `no ${PYTHON}` : `${PYTHON} lacks numpy or requests (${probe.stderr.trim().split('\n').at(-1)})`;
  console.warn(`\n[python example test SKIPPED] ${why}: apt-get install -y python3-numpy python3-requests, or set PYTHON_PATH\n`);
}

describe.skipIf(!available)('examples/check_conv.py against a started server', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('checks its naive conv forward and backward: everything passes, and the injected mistake gets its hint', async () => {
    const run = spawnSync(PYTHON, [SCRIPT, server.url], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.status, run.stdout).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('your conv_forward_naive / conv_backward_naive:');
    for (const key of ['out', 'grads.x', 'grads.w', 'grads.b']) {
      expect(lines.find((l) => l.trimStart().startsWith(`${key} `)), key).toMatch(/ pass {2}relative error \d\.\de-1[0-9] \(threshold 1e-07\)$/);
    }
    expect(run.stdout).toContain('the same with dw divided by N:\n  grads.w  FAIL');
    expect(run.stdout).toContain('hint: grads.w is 1/2 of the reference (N (the batch size) = 2): this layer takes no mean over the batch: do not divide by N');
    expect(lines.at(-1)).toBe('passed');
  });

  it('reads the URL from LAYERSERVE_URL, and says so when the server answers a problem', async () => {
    const bad = spawnSync(PYTHON, ['-c', `import sys; sys.argv = ['x']; exec(open(${JSON.stringify(SCRIPT)}).read().replace('"dout": dout.tolist(),', ''))`], {
      encoding: 'utf8',
      env: { ...process.env, LAYERSERVE_URL: server.url },
      timeout: 60_000,
    });
    expect(bad.status, bad.stdout + bad.stderr).toBe(2);
    expect(bad.stdout).toMatch(/^400: conv\/check: claimed\.grads: gradients are those of sum\(out · dout\): send the dout you used with them/m);
  });
});
