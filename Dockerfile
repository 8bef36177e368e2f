# CodeDetect application image: the server (Node.js 24), the Python analyzers from Debian trixie
# (pylint, bandit, radon), a pinned Compose v2 plugin for hosts whose OS packages none, and the bootstrap agent
# bundled into one file (/opt/codedetect/agent.mjs) that the instance's launcher runs on the host.
# Build: docker build --build-arg VERSION=… --build-arg REVISION=$(git rev-parse HEAD) -t codedetect:VERSION .
# (add --network host where RUN steps reach apt and npm only through the host, as on the CI machines).
ARG BASE=node:24-trixie-slim
ARG COMPOSE_DEB_VERSION=2.26.1-4

# The Compose v2 plugin, taken out of Debian trixie's docker-compose package at a pinned version.
FROM ${BASE} AS compose-plugin
ARG COMPOSE_DEB_VERSION
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; cd /tmp; \
    apt-get -o APT::Sandbox::User=root download -qq "docker-compose=${COMPOSE_DEB_VERSION}"; \
    dpkg-deb -x docker-compose_*.deb x; \
    install -D -m 755 x/usr/libexec/docker/cli-plugins/docker-compose /out/docker-compose; \
    printf 'docker-compose %s from Debian trixie package docker-compose=%s\nsha256 %s\n' \
      "$(/out/docker-compose version --short)" "$COMPOSE_DEB_VERSION" "$(sha256sum /out/docker-compose | cut -d' ' -f1)" \
      > /out/docker-compose.version; \
    cat /out/docker-compose.version; rm -rf /var/lib/apt/lists/* /tmp/*

# TypeScript to JavaScript, with the dev dependencies.
FROM ${BASE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY . .
RUN npm run build
# The bootstrap agent as one file for the host's own Node.js 24 (no node_modules, no native module): the user-data
# launcher copies it out with `docker cp` from /opt/codedetect/agent.mjs.
RUN node bootstrap/bundle.ts /src/agent/agent.mjs

# Production dependencies only.
FROM ${BASE} AS deps
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error
# better-sqlite3 ships the SQLite sources and prebuilt addons for eight platforms; keep this platform's addon only.
RUN cd node_modules/better-sqlite3 && keep="$(node -p 'process.platform + "-" + process.arch').node" \
    && test -f "prebuilds/$keep" && find prebuilds -type f ! -name "$keep" -delete && rm -rf deps

FROM ${BASE}
# No documentation, manual pages or translations from the packages installed below (as in Debian's slim images).
RUN printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' 'path-exclude=/usr/share/man/*' \
      'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' > /etc/dpkg/dpkg.cfg.d/codedetect-slim
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends pylint bandit radon tini >/dev/null; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log
# glibc serves allocations of 16 KiB and more from mappings it returns when freed (server/allocator.ts): what a burst
# of uploads took goes back to the system, where the default fragmented heap keeps it. The analyzers get their own env.
ENV MALLOC_MMAP_THRESHOLD_=16384
# Read-only root: Python, pylint and anything that wants a home write to the /tmp tmpfs only.
ENV NODE_ENV=production HOST=0.0.0.0 PORT=5000 DATA_DIR=/data \
    HOME=/tmp XDG_CACHE_HOME=/tmp/.cache XDG_CONFIG_HOME=/tmp/.config PYLINTHOME=/tmp/.pylint \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN mkdir -p /data/database /data/uploads && chown -R node:node /data
COPY --from=compose-plugin /out/ /opt/codedetect/
COPY --from=deps /src/node_modules node_modules
COPY package.json ./
COPY --from=build /src/dist dist
COPY --from=build /src/agent/agent.mjs /opt/codedetect/agent.mjs
ARG COMPOSE_DEB_VERSION
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="CodeDetect" \
      org.opencontainers.image.description="Python code analysis: pylint, bandit and radon behind an HTTP API and a web page" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="node:24-trixie-slim" \
      io.codedetect.compose-plugin="/opt/codedetect/docker-compose (Debian docker-compose=${COMPOSE_DEB_VERSION})"
ENV APP_VERSION=${VERSION} GIT_COMMIT=${REVISION}
USER node
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["node", "/app/dist/server/healthcheck.js"]
# tini forwards signals and reaps zombies (the analyzers' Python children); -s keeps it correct
# under `docker run --init` / Compose `init: true` too, where it is not PID 1 itself.
ENTRYPOINT ["/usr/bin/tini", "-s", "--"]
CMD ["node", "dist/server/main.js"]
