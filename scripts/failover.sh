#!/usr/bin/env bash
# scripts/failover.sh: replicas stop and die under load, behind HAProxy (README, "Scaling").
#
# Brings the compose `scale` profile up with 3 replicas (the `layerserve` service and 2 `replica`s)
# behind HAProxy, runs a steady load of mixed requests through HAProxy (scripts/failover-load.mjs), and
# in two phases of that load takes one replica away and brings it back:
#   stop   `docker stop` (SIGTERM: readiness turns 503, the replica drains, finishes its work, exits)
#   kill   `docker kill` (SIGKILL: the requests in flight on it are cut off)
# each followed by `docker start` and a wait until HAProxy has the replica back. Prints per phase the
# requests, statuses, transport errors and every failed request, then takes everything down.
# Not part of `npm test`: it needs Docker and takes about two minutes.
#
# env: RATE=60 CONCURRENCY=16   the load (requests/s, connections)
#      WARM=8 DOWN=8 AFTER=6    seconds of load before the stop/kill, with the replica gone, and after
#                               HAProxy has it back
#      NODE_IMAGE=...           base image for the build (compose default node:24-bookworm-slim)
#      WORK=${TMPDIR:-/tmp}/layerserve-docker   where a Docker engine started here keeps its state
#      KEEP_UP=1                leave the compose project running at the end
# Ports and network default to values apart from a plain `docker compose up` (PUBLISH_PORT=18081,
# LB_PUBLISH_PORT=18090, LB_METRICS_PUBLISH_PORT=18405, SUBNET=172.30.81.0/24), so both can run at once.
#
# Docker: uses the engine that `docker` reaches (DOCKER_HOST); if none answers and `dockerd` is
# installed, starts one on $WORK/docker.sock (as ../shared/tools/docker/verify-docker.sh does on machines
# without systemd) and stops it at the end. On a machine without Docker Hub, run verify-docker.sh once
# with STANDINS="haproxy:3.2" COMPOSE=1 COMPOSE_PROFILES=scale first (it leaves the base image and the
# HAProxy stand-in in $WORK), then: NODE_IMAGE=localhost/node-local:24 scripts/failover.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RATE="${RATE:-60}" CONCURRENCY="${CONCURRENCY:-16}"
WARM="${WARM:-8}" DOWN="${DOWN:-8}" AFTER="${AFTER:-6}"
WORK="${WORK:-${TMPDIR:-/tmp}/layerserve-docker}"
export COMPOSE_PROFILES=scale REPLICAS=2
export PUBLISH_PORT="${PUBLISH_PORT:-18081}" LB_PUBLISH_PORT="${LB_PUBLISH_PORT:-18090}" LB_METRICS_PUBLISH_PORT="${LB_METRICS_PUBLISH_PORT:-18405}"
export SUBNET="${SUBNET:-172.30.81.0/24}" DYNAMIC_RANGE="${DYNAMIC_RANGE:-172.30.81.128/25}" LB_ADDRESS="${LB_ADDRESS:-172.30.81.10}"
PROJECT="failover$$"
LB="http://127.0.0.1:$LB_PUBLISH_PORT"
METRICS="http://127.0.0.1:$LB_METRICS_PUBLISH_PORT/metrics"
OUT="$(mktemp -d)"
STARTED_PID=""
LOAD_PID=""
say() { echo "== $(date +%H:%M:%S) $*" >&2; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }

# ---------- engine ----------
if ! docker version >/dev/null 2>&1; then
  command -v dockerd >/dev/null || { echo "no Docker engine answers and dockerd is not installed" >&2; exit 1; }
  export DOCKER_HOST="unix://$WORK/docker.sock"
  if ! docker version >/dev/null 2>&1; then
    say "starting dockerd on $DOCKER_HOST"
    mkdir -p "$WORK/docker-root" "$WORK/docker-exec"
    setsid dockerd --data-root "$WORK/docker-root" --exec-root "$WORK/docker-exec" -H "$DOCKER_HOST" \
      --pidfile "$WORK/dockerd.pid" >"$WORK/dockerd.log" 2>&1 < /dev/null &
    STARTED_PID=$!
    for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
    docker version >/dev/null || { tail -20 "$WORK/dockerd.log"; exit 1; }
  fi
fi
if docker compose version >/dev/null 2>&1; then DC=(docker compose); else DC=(docker-compose); fi
DC+=(-p "$PROJECT" -f docker-compose.yml)

cleanup() {
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
  if [ "${KEEP_UP:-0}" != 1 ]; then "${DC[@]}" down -v >/dev/null 2>&1 || true; fi
  if [ -n "$STARTED_PID" ]; then
    kill "$STARTED_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$STARTED_PID" 2>/dev/null || break; sleep 0.25; done
  fi
}
trap cleanup EXIT

# Replicas that HAProxy sends traffic to AND whose last check passed (its Prometheus exporter). A
# server that DNS has just given an address counts as UP in HAProxy 2.6 before any check ran (3.1 has
# init-state for that), so the UP count alone would call a replica back while it still refuses connections.
active() {
  curl -fsS --max-time 2 "$METRICS" 2>/dev/null | awk '
    /^haproxy_server_status\{proxy="replicas",.*state="UP"\} 1$/ { match($0, /server="[^"]*"/); up[substr($0, RSTART, RLENGTH)] = 1 }
    /^haproxy_server_check_status\{proxy="replicas",.*state="L7OK"\} 1$/ { match($0, /server="[^"]*"/); ok[substr($0, RSTART, RLENGTH)] = 1 }
    END { n = 0; for (s in up) if (s in ok) n++; print n }' || true
}
wait_active() {  # wait_active N TIMEOUT_S
  local s; s=$(now)
  for _ in $(seq 1 $(($2 * 4))); do [ "$(active)" = "$1" ] && { echo "$(since "$s")"; return 0; }; sleep 0.25; done
  echo "HAProxy did not reach $1 active replicas in $2 s (has: $(active))" >&2; return 1
}

# ---------- up ----------
s=$(now)
say "compose up (scale profile, 3 replicas) as project $PROJECT"
"${DC[@]}" up -d --build >"$OUT/up.log" 2>&1 || { tail -30 "$OUT/up.log"; exit 1; }
wait_active 3 180 >/dev/null
say "HAProxy has 3 replicas up, $(since "$s") s after compose up"
VICTIM=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=replica" | head -n 1)
say "the replica taken away: $(docker inspect -f '{{.Name}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$VICTIM")"
LBC=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=lb")

phase() {  # phase NAME stop|kill
  local name=$1 action=$2 t acted down_s back_s code
  node scripts/failover-load.mjs "$LB" "$RATE" "$CONCURRENCY" >"$OUT/$name.json" &
  LOAD_PID=$!
  sleep "$WARM"
  t=$(now)
  if [ "$action" = stop ]; then docker stop -t 60 "$VICTIM" >/dev/null; else docker kill "$VICTIM" >/dev/null; fi
  acted=$(since "$t")
  code=$(docker inspect -f '{{.State.ExitCode}}' "$VICTIM")
  down_s=$(wait_active 2 30)
  say "$name: docker $action returned after $acted s (exit code $code); HAProxy counted 2 replicas $down_s s after that"
  sleep "$DOWN"
  t=$(now)
  docker start "$VICTIM" >/dev/null
  back_s=$(wait_active 3 90)
  say "$name: docker start; HAProxy had 3 replicas again $back_s s later"
  sleep "$AFTER"
  kill -INT "$LOAD_PID"; wait "$LOAD_PID" || true; LOAD_PID=""
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const [name, action, acted, code, down, back] = process.argv.slice(2);
    console.log(`${name}: ${r.requests} requests in ${r.seconds} s (${r.rate}/s); statuses ${JSON.stringify(r.statuses)}; ` +
      `transport errors ${JSON.stringify(r.errors)}; failed ${r.failed}`);
    console.log(`  latency p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms; ${r.over_1s} took over 1 s`);
    for (const [status, body] of Object.entries(r.samples)) console.log(`  first ${status} answer: ${body}`);
    const shown = r.failures.slice(0, 20);
    for (const f of shown) console.log(`  failed at ${f.at_s} s: ${f.kind} -> ${f.outcome}`);
    if (r.failures.length > shown.length) console.log(`  ... and ${r.failures.length - shown.length} more (${process.argv[1]})`);
    console.log(`  docker ${action}: ${acted} s, exit code ${code}; out of HAProxy after ${down} s; back in ${back} s after docker start`);
  ' "$OUT/$name.json" "$name" "$action" "$acted" "$code" "$down_s" "$back_s" | tee -a "$OUT/summary.txt"
}

phase graceful-stop stop
phase sigkill kill

# everything needed to explain a failure, kept after the project is gone
curl -fsS --max-time 5 "$METRICS" >"$OUT/haproxy-metrics.txt" 2>/dev/null || true
for c in $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"); do
  docker logs "$c" >"$OUT/$(docker inspect -f '{{.Name}}' "$c" | tr -d /).log" 2>&1 || true
done
say "HAProxy's per-replica answers (5xx from a replica, retries, redispatches):"
grep -E '^haproxy_server_(http_responses_total\{[^}]*code="5xx"|retry_warnings_total|redispatch_warnings_total|connection_errors_total)' "$OUT/haproxy-metrics.txt" | sed 's/^/  /' || true
say "HAProxy's log of the replicas' state changes:"
docker logs "$LBC" 2>&1 | grep -v '^\[WARNING\]' | grep -E "is (DOWN|UP)|changed its IP|maintenance|READY" | sed 's/^/  /' | tail -30 || true
say "summary (raw JSON per phase in $OUT)"
cat "$OUT/summary.txt"
