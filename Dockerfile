# Production image of mimecast-collector: compiled in a build stage, run on Node 24 LTS as an unprivileged user with a
# read-only root filesystem and one writable data volume (/data).

# ---- build: install every dependency, compile the TypeScript, then drop the dev dependencies ----
# better-sqlite3 is a native addon: its .node file only loads in a Node of the same ABI (NODE_MODULE_VERSION, i.e.
# the same major). The build stage is therefore the very Node 24 image the runtime stage uses, so `npm ci` fetches a
# prebuilt binary for Node 24 or, when none can be downloaded, compiles it here against this Node's own headers
# (python3, make, g++ below). Never copy a node_modules built on the host (Node 20): it would fail to load at start.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script would compile src/ before it is copied; better-sqlite3's own install step is
# run explicitly by the rebuild, so the dependency layer stays cached while only src/ changes.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && node -e "require('better-sqlite3')(':memory:').close()"

# ---- runtime: Node 24 LTS, no compiler, no npm needed at run time ----
FROM node:24-bookworm-slim AS runtime
# Temporary files (API 1.0 SIEM zip replies spooled to disk, SQLite temp files) go to the data volume: the root
# filesystem is read-only, and one volume is all a deployment has to provide.
ENV NODE_ENV=production TMPDIR=/data
# glibc's malloc raises its mmap threshold to the largest block freed (up to 32 MB); from then on buffers of a few
# hundred KB to a few MB come from its arenas, which grow and stay grown. Fixed at 128 KB: peak RSS 174-189 MB
# instead of 198-208 MB in the 1M-record benchmark, at the same events/s (docs/benchmarks.md, "Memory").
ENV MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
# A fixed numeric UID/GID (not a name) so Kubernetes' runAsNonRoot can verify it and a volume's owner is predictable.
RUN groupadd --system --gid 10001 collector \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin collector \
 && mkdir -p /data /config \
 && chown 10001:10001 /data
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 10001:10001
# The only writable path: data_dir (the SQLite journal) and TMPDIR. Mount a volume here; the config is read from
# /config/config.yaml (mounted read-only) and must set `data_dir: /data` and `http.listen: 0.0.0.0:9090`.
VOLUME ["/data"]
EXPOSE 9090
# SIGTERM: the collector stops polling, lets each sink finish its batch within shutdown_timeout (default 30s), closes
# the journal and exits 0; give it more than shutdown_timeout before the engine's SIGKILL (compose stop_grace_period,
# Kubernetes terminationGracePeriodSeconds). Node runs as PID 1 and handles SIGTERM itself; it starts no child processes.
STOPSIGNAL SIGTERM
# /healthz on http.listen (port 9090 in the shipped configs), checked with node itself: the image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["run", "--config", "/config/config.yaml"]
