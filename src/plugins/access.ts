import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ProblemError } from '../errors/problems.ts';

export interface AccessOptions {
  tokens: readonly string[];
  docs: 'public' | 'token' | 'off';
  metrics: 'public' | 'token' | 'off';
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of a bearer token against every configured token (no early exit). */
export function tokenMatches(given: string, tokens: readonly Buffer[]): boolean {
  const g = digest(given);
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(g, t) || ok;
  return ok;
}

/** Which routes need a bearer token: /v1 and /v2 when tokens are set, /docs and /metrics as configured. Health stays open. */
async function access(app: FastifyInstance, opts: AccessOptions) {
  const tokens = opts.tokens.map(digest);
  const guarded = (url: string) =>
    url.startsWith('/v1') ||
    (url.startsWith('/v2') && !url.startsWith('/v2/health')) ||
    (opts.docs === 'token' && url.startsWith('/docs')) ||
    (opts.metrics === 'token' && url.startsWith('/metrics'));

  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (tokens.length === 0 || !guarded(request.url)) return;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m || !tokenMatches(m[1], tokens)) {
      throw new ProblemError('unauthorized', header ? 'the bearer token is not valid' : 'send "Authorization: Bearer <token>"', {
        headers: { 'www-authenticate': 'Bearer realm="layerserve"' },
      });
    }
  });
}

export default fp(access, { name: 'access' });
