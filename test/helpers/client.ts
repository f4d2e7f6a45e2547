import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

/**
 * An HTTP client for tests of delivery: it reads an answer's body at a chosen pace (paused, throttled
 * or at full speed) and reports whether the body arrived whole against its Content-Length.
 */
export interface Download {
  status: number;
  headers: IncomingHttpHeaders;
  /** body bytes read so far */
  readonly received: number;
  /** bytes per second; 0 pauses; Infinity reads as fast as they come */
  pace(bytesPerSecond: number): void;
  /** settles when the body ended or broke off */
  done: Promise<{ body: Buffer; whole: boolean; error?: string }>;
  abort(): void;
}

export interface Options {
  method?: string;
  body?: unknown;
  agent?: Agent | false;
  /** initial pace: bytes per second, default Infinity */
  pace?: number;
}

/** Sends a request; resolves once the status line and headers arrived, with the body still to read. */
export function download(url: string, options: Options = {}): Promise<Download> {
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: options.method ?? (payload ? 'POST' : 'GET'),
      agent: options.agent,
      headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
    });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let rate = options.pace ?? Infinity;
      let budget = 0;
      // Paused mode: bytes are taken with read() only while the budget allows, and the budget is
      // refilled every 50 ms; what is not taken stays in the socket and fills the TCP window.
      const take = () => {
        for (let chunk: Buffer | null; (rate === Infinity || budget > 0) && (chunk = res.read()) !== null; ) {
          chunks.push(chunk);
          received += chunk.length;
          budget -= chunk.length;
        }
      };
      const timer = setInterval(() => {
        if (rate === Infinity || rate === 0) return;
        budget = Math.min(budget + rate / 20, rate / 2);
        take();
      }, 50);
      const pace = (bytesPerSecond: number) => {
        rate = bytesPerSecond;
        budget = 0;
        take();
      };
      res.on('readable', take);
      const done = new Promise<{ body: Buffer; whole: boolean; error?: string }>((settle) => {
        const finish = (error?: string) => {
          clearInterval(timer);
          const body = Buffer.concat(chunks);
          const length = Number(res.headers['content-length'] ?? Number.NaN);
          settle({ body, whole: !error && res.complete && body.length === length, error });
        };
        res.once('end', () => finish());
        res.once('error', (e) => finish(e.message));
        res.once('aborted', () => finish('aborted'));
        // a complete body may still be unread: its 'end' comes when it is read
        res.once('close', () => res.complete || finish('closed before the end'));
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        get received() {
          return received;
        },
        pace,
        done,
        abort: () => req.destroy(),
      });
    });
    req.end(payload);
  });
}

/**
 * A conv request whose answer is large and exactly predictable: x (n, 1, h, h) small integers, w
 * (f, 1, 1, 1), b (f), no padding, so out[n][k][i][j] = x[n][0][i][j] * w[k] + b[k], a single product
 * and sum in double, as the test computes it. The answer (nested JSON) is about n × f × h² × 18 bytes:
 * n = 2 is 9.4 MB, n = 16 is 75 MB with f = h = 64.
 */
export function bigConv(n: number, f = 64, h = 64) {
  const x = Array.from({ length: n * h * h }, (_, i) => (i % 101) - 50);
  const w = Array.from({ length: f }, (_, k) => 1 / (k + 3));
  const b = Array.from({ length: f }, (_, k) => k / 7);
  const body = {
    inputs: { x: { shape: [n, 1, h, h], data: x }, w: { shape: [f, 1, 1, 1], data: w }, b: { shape: [f], data: b } },
    params: { pad: 0 },
    encoding: 'nested',
  };
  /** The first mismatch between an answer's text and the expected out, or undefined. */
  const mismatch = (text: string): string | undefined => {
    const out = (JSON.parse(text) as { out: number[][][][] }).out;
    if (out.length !== n) return `out has ${out.length} images, not ${n}`;
    for (let a = 0; a < n; a++)
      for (let k = 0; k < f; k++)
        for (let i = 0; i < h; i++)
          for (let j = 0; j < h; j++) {
            const want = x[(a * h + i) * h + j] * w[k] + b[k];
            if (out[a][k][i][j] !== want) return `out[${a}][${k}][${i}][${j}] = ${out[a][k][i][j]}, expected ${want}`;
          }
    return undefined;
  };
  return { body, mismatch };
}
