#!/usr/bin/env node
// A small round-robin HTTP load balancer for the compose `scale` profile (docker-compose.yml).
// It ships inside the layerserve image (no nginx/haproxy image needed) and uses only node's built-ins.
//
//   BACKENDS=backend:8080   comma-separated host:port; each host is resolved to ALL its addresses
//                           (Docker's DNS answers one address per replica of a service or alias)
//   LB_PORT=8080 LB_HOST=0.0.0.0
//   LB_CHECK_MS=2000        re-resolve and health-check every backend this often
//   LB_HEALTH_PATH=/health/ready
//
// Only replicas whose readiness check answered 2xx get traffic. A request whose connection to a replica
// is refused before any byte was sent is retried on the next replica (so replicas that stop or restart
// are skipped even between two checks); any later failure answers 502. GET /lb/health answers 200 with
// the ready replicas while there is at least one, else 503. Responses carry `x-served-by: <ip:port>`.
import http from 'node:http';
import { lookup } from 'node:dns/promises';

const env = process.env;
const PORT = Number(env.LB_PORT ?? 8080);
const HOST = env.LB_HOST ?? '0.0.0.0';
const CHECK_MS = Number(env.LB_CHECK_MS ?? 2000);
const HEALTH_PATH = env.LB_HEALTH_PATH ?? '/health/ready';
const TARGETS = (env.BACKENDS ?? 'backend:8080').split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
  const i = s.lastIndexOf(':');
  return i < 0 ? { host: s, port: 8080 } : { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
});

const log = (msg, extra = {}) => console.log(JSON.stringify({ time: Date.now(), msg, ...extra }));
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** Ready replicas as "ip:port", in a stable order; next() walks them round-robin. */
let ready = [];
let turn = 0;
let logged = ''; // the last set written to the log

async function checkOne(addr) {
  const [ip, port] = [addr.slice(0, addr.lastIndexOf(':')), addr.slice(addr.lastIndexOf(':') + 1)];
  return new Promise((resolve) => {
    const req = http.get({ host: ip, port, path: HEALTH_PATH, timeout: 1500 }, (res) => {
      res.resume();
      resolve(res.statusCode >= 200 && res.statusCode < 300);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
  });
}

async function refresh() {
  const addrs = new Set();
  for (const { host, port } of TARGETS) {
    try {
      for (const a of await lookup(host, { all: true })) addrs.add(a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`);
    } catch {
      // no replica of this name yet
    }
  }
  const all = [...addrs].sort();
  const ok = await Promise.all(all.map(checkOne));
  const next = all.filter((_, i) => ok[i]);
  if (next.join() !== logged) log('replicas', { ready: next, notReady: all.filter((_, i) => !ok[i]) });
  logged = next.join();
  ready = next;
}

function problem(res, status, kind, title, detail) {
  if (res.headersSent) return res.destroy();
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: `urn:layerserve:problem:${kind}`, title, status, detail }));
}

// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const forwardable = (headers) => Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP.has(k)));

function proxy(req, res, tried = 0) {
  if (ready.length === 0 || tried > 8) {
    return problem(res, 503, 'overloaded', 'The service is overloaded', 'no replica is ready');
  }
  const addr = ready[turn++ % ready.length];
  const i = addr.lastIndexOf(':');
  const headers = forwardable(req.headers);
  headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
  headers['x-forwarded-host'] ??= req.headers.host ?? '';
  headers['x-forwarded-proto'] ??= 'http';
  if (req.headers['transfer-encoding']) headers['transfer-encoding'] = 'chunked';
  let sent = false; // true once the request body started flowing to this replica
  const up = http.request({ host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: addr.slice(i + 1), method: req.method, path: req.url, headers, agent });
  up.on('response', (upRes) => {
    res.writeHead(upRes.statusCode, { ...forwardable(upRes.headers), 'x-served-by': addr });
    upRes.pipe(res);
  });
  up.on('socket', (socket) => {
    const go = () => {
      sent = true;
      req.pipe(up);
    };
    if (socket.connecting) socket.once('connect', go);
    else go();
  });
  up.on('error', (err) => {
    if (!sent && !res.headersSent) {
      ready = ready.filter((a) => a !== addr); // until the next check says otherwise
      return proxy(req, res, tried + 1);
    }
    log('upstream error', { addr, err: err.code ?? err.message });
    problem(res, 502, 'bad-gateway', 'A replica failed to answer', `${addr}: ${err.code ?? err.message}`);
  });
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
}

const server = http.createServer((req, res) => {
  if (req.url === '/lb/health') {
    res.writeHead(ready.length ? 200 : 503, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ status: ready.length ? 'ready' : 'no replica ready', replicas: ready }));
  }
  proxy(req, res);
});
server.keepAliveTimeout = 65_000;

await refresh();
const timer = setInterval(() => refresh().catch((err) => log('refresh failed', { err: err.message })), CHECK_MS);
server.listen(PORT, HOST, () => log('listening', { port: PORT, targets: TARGETS }));

// PID 1 in its container: stop promptly on SIGTERM/SIGINT, letting in-flight requests finish.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    log('closing', { signal });
    clearInterval(timer);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 10_000).unref();
  });
}
