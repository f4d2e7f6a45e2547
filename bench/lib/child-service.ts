import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts a child process and resolves with the URL it prints. The service under test runs in a
 * process of its own so that the bench (the client) shares no event loop with it.
 */
export function startChild(args: string[], env: Record<string, string>, pattern: RegExp): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (b: Buffer) => {
      seen += b;
      const m = pattern.exec(seen);
      if (!m) return;
      // From here on the child's output is drained, not kept (request logs would pile up).
      child.stdout!.off('data', onData).resume();
      child.stderr!.off('data', onData).resume();
      resolve({ url: m[1], child });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${seen.slice(-400)}`)));
  });
}

/** A TCP port free on 127.0.0.1 right now (for a child that must be told its port). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The service (src/server.ts) with one worker, in its own process. */
export const startService = (env: Record<string, string> = {}) =>
  startChild(['--import', 'tsx', 'src/server.ts'], { PORT: '0', HOST: '127.0.0.1', WORKERS: '1', LOG_LEVEL: 'info', ...env }, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/);

export interface Answer {
  status: number;
  body: Buffer;
  timing: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** Where postReading copies answers: grown as needed, reused (a fresh buffer per answer costs the client page faults). */
let scratch = new Uint8Array(0);

/**
 * One POST whose answer the client reads into a reused buffer and then drops: the client a timing
 * loop wants, whose own allocations do not count against the service (post() keeps each answer).
 */
export function postReading(url: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; bytes: number; timing: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const length = Number(res.headers['content-length'] ?? 0);
      if (scratch.length < length) scratch = new Uint8Array(length);
      let o = 0;
      res.on('data', (c: Buffer) => {
        if (o + c.length > scratch.length) {
          const grown = new Uint8Array(2 * (o + c.length));
          grown.set(scratch.subarray(0, o));
          scratch = grown;
        }
        scratch.set(c, o);
        o += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode!, bytes: o, timing: String(res.headers['server-timing'] ?? '') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One POST on a kept-alive node:http connection (cheaper per call than fetch). */
export function post(url: string, body: Buffer | string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), timing: String(res.headers['server-timing'] ?? '') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
