import { describe, expect, it } from 'vitest';
import { startServer } from './helpers/server.ts';

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('graceful shutdown of the real process', () => {
  it('on SIGTERM: in-flight work finishes, new work is refused, the pool closes, exit code 0', async () => {
    const server = await startServer({ ENABLE_FAULT_LAYER: 'true' });
    const inFlight = post(`${server.url}/v1/layers/fault`, { inputs: { x: [42] }, params: { kind: 'hang', ms: 1_500 } });
    await new Promise((r) => setTimeout(r, 300));
    const exited = server.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));

    // New work: refused with a 503 problem, or the listener is already closed.
    const late = await post(`${server.url}/v1/layers/relu`, { inputs: { x: [1] } }).then(
      (res) => res.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);

    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ out: [42] });
    expect(await exited).toBe(0);
    expect(server.logs.join('')).toMatch(/"signal":"SIGTERM"/);
  }, 30_000);
});
