# Production image: Node 24 LTS, compiled once in a build stage, runs as an unprivileged user.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY config ./config
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/config ./config
COPY package.json ./
RUN mkdir -p /var/lib/mimecast-collector /etc/mimecast-collector && chown -R node:node /var/lib/mimecast-collector
USER node
VOLUME ["/var/lib/mimecast-collector"]
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:9090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["run", "--config", "/etc/mimecast-collector/config.yaml"]
