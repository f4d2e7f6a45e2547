# layerserve container image.
#   docker build -t layerserve .                      (or: docker compose build)
#   docker run --rm -p 8080:8080 -e WORKERS=2 --cpus 2 layerserve
# The base image is a build argument so that machines without Docker Hub can pass a local Node image.
# Only the legacy builder's features are used (no BuildKit cache mounts, no `# syntax=` line).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: dev dependencies, TypeScript -> dist/, AssemblyScript -> dist/kernels/wasm/build/*.wasm
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-wasm.mjs scripts/
COPY src/ src/
RUN npm run build \
 && test -f dist/server.js \
 && test -f dist/kernels/wasm/build/gemm-simd.wasm \
 && test -f dist/kernels/wasm/build/gemm-relaxed-simd.wasm \
 && test -f dist/kernels/wasm/build/norm-simd.wasm \
 && test -f dist/kernels/wasm/build/norm-relaxed-simd.wasm

# ---- deps: production dependencies only (no install scripts needed by any of them)
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime: node, production node_modules and dist/; nothing else
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
# Files stay owned by root and read-only to the service user: the service writes nothing to disk,
# so the container also runs with a read-only root filesystem (see deploy/kubernetes/deployment.yaml).
COPY package.json ./
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
# uid/gid 1000 is the `node` user of the official Node images; numeric so that Kubernetes'
# runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8080
# Needs nothing beyond node (no curl/wget in slim images). Fails while the worker pool is starting or
# the service is shutting down (/health/ready answers 503 then).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/ready',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself (src/server.ts, close-with-grace): it stops accepting,
# lets in-flight requests finish, closes the worker pool and exits 0. No init or shell wrapper, so the
# signal reaches node directly.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server.js"]
