# syntax=docker/dockerfile:1
# quietwatch: multi-stage build on Node 20 LTS (Debian bookworm), runs as the non-root `node` user.
# Build:  docker build -t quietwatch .
# Run:    docker run -p 8080:8080 -e QUIETWATCH_TOKENS="ingest=...,read=...,admin=..." -v qw-data:/var/lib/quietwatch quietwatch
# Without tokens the service refuses to listen on 0.0.0.0 (see README "Auth").

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
COPY config/quietwatch.yaml /etc/quietwatch/quietwatch.yaml
COPY dashboards ./dashboards
RUN mkdir -p /var/lib/quietwatch && chown node:node /var/lib/quietwatch
USER node
VOLUME ["/var/lib/quietwatch"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/quietwatch.js"]
CMD ["serve", "--host", "0.0.0.0", "--store", "/var/lib/quietwatch/quietwatch.sqlite"]
