# syntax=docker/dockerfile:1
# quietwatch: multi-stage build on Node 20 LTS (Debian bookworm), runs as the non-root `node` user.
# Build:  docker build -t quietwatch .
# Run:    docker run -p 8080:8080 -e QUIETWATCH_TOKENS="ingest=...,read=...,admin=..." \
#           -v $PWD/quietwatch.yaml:/etc/quietwatch/quietwatch.yaml:ro -v qw-data:/var/lib/quietwatch quietwatch
# Demo:   docker run -p 8080:8080 -e QUIETWATCH_TOKENS=... quietwatch serve --sandbox --host 0.0.0.0
# The default config (config/production.yaml) has no sandbox and no checks: mount your own.
# Without tokens the service refuses to listen on 0.0.0.0 (see README "Auth").
# test/image/image.test.ts builds this file unchanged (buildah) and runs the image.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
# better-sqlite3 compiles against Node's headers when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    QUIETWATCH_CONFIG=/etc/quietwatch/quietwatch.yaml
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# config/quietwatch.yaml is the sandbox demo (`serve --sandbox`); the default is the production file.
COPY config ./config
COPY config/production.yaml /etc/quietwatch/quietwatch.yaml
COPY dashboards ./dashboards
# /app/data: the sandbox demo's store (`serve --sandbox`)
RUN mkdir -p /var/lib/quietwatch /app/data && chown node:node /var/lib/quietwatch /app/data
USER node
VOLUME ["/var/lib/quietwatch"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/quietwatch.js"]
CMD ["serve", "--host", "0.0.0.0", "--store", "/var/lib/quietwatch/quietwatch.sqlite"]
