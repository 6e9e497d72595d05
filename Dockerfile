# Gatehouse's image. Build: docker build -t gatehouse .   Run: see deploy/compose.yaml.

# Build stage: the TypeScript compiler and the other dev dependencies live and die here.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
# npm ci builds (the prepare script); then only the production dependencies stay, for the final stage.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

# Final stage: production dependencies and the compiled code, run by an unprivileged user.
FROM node:24-bookworm-slim
# tini as PID 1 passes SIGTERM on to Node (which then drains and shuts down) and reaps zombies;
# Node as PID 1 would not get the kernel's default signal handling.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
# Memory, as npm start sets it (docs/performance.md#memory): two malloc arenas, since argon2 hashes
# (19 MiB each) on other threads otherwise leave an arena of freed memory per thread; a fixed mmap
# threshold, so each hash's 19 MiB is mapped and handed back when freed rather than kept in an
# arena (glibc raises a dynamic threshold past it after the first free).
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/plugins ./dist/plugins
COPY --from=build /app/dist/routes ./dist/routes
# ./data holds the SQLite database and generated secret when DATABASE_URL and JWT_SECRET_KEY are unset.
RUN mkdir data && chown node:node data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# V8's young generation bounded at 4 MB a semi-space (Node 24 grows it to 32 under load).
CMD ["node", "--max-semi-space-size=4", "dist/src/server.js"]
