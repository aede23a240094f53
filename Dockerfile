# syntax=docker/dockerfile:1
# One image for the API, the worker and the `signet` command; the command chooses:
#   (default)                          the API (`npm start`), port 3000
#   node dist/apps/worker/src/main.js  a worker (`npm run start:worker`)
#   signet init | audit | mirror | …   the command line
# README, "Production", walks through it. No container engine ran where this file was written:
# it is checked by the tests in test/deploy/ (a Dockerfile linter and structural checks) only.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: every dependency, the TypeScript build ------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` would build before the sources are copied; the
# build is its own step below. No dependency needs an install script (msgpackr-extract is optional,
# and ships prebuilt binaries).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime: production dependencies only, the built JavaScript, a user without privileges ---
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    SIGNET_DATA_DIR=/var/lib/signet \
    HOST=0.0.0.0 \
    PORT=3000
# The data directory (the rollback guard `checkpoint`, and the artifacts and archive when
# SIGNET_BLOB_URL is unset) must belong to the user the processes run as: a named volume mounted
# here starts as a copy of this directory, owner and mode included.
RUN groupadd --system --gid 10001 signet \
 && useradd --system --uid 10001 --gid signet --home-dir /var/lib/signet --no-create-home --shell /usr/sbin/nologin signet \
 && install -d -o signet -g signet -m 0700 /var/lib/signet
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (the build) needs the dev dependencies; the build comes from the
# build stage instead.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /src/dist/apps ./dist/apps
COPY --from=build /src/dist/libs ./dist/libs
COPY --from=build /src/dist/migrations ./dist/migrations
COPY --from=build /src/dist/cli ./dist/cli
COPY bin ./bin
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs
RUN ln -s /app/bin/signet.js /usr/local/bin/signet
# No gnupg: the server, the worker and the command verify OpenPGP with openpgp.js; only the
# tests call gpg.
USER signet:signet
# 3000: the API (PORT); 9464: a worker's /healthz, /readyz and /metrics (SIGNET_WORKER_PORT).
EXPOSE 3000 9464
# The API's readiness (database reachable, migrations applied, log intact). A worker's container
# overrides the URL (compose.yaml); a one-shot command has none.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/deploy/healthcheck.mjs"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/apps/api/src/main.js"]
