// Small stand-ins for the application image, built in seconds from the base image: a server that turns healthy (at once or late), one that crashes.
import { BASE_IMAGE, buildFromText, docker, push, REGISTRY } from "./docker-harness.ts";

/**
 * Serves {version, ready} on PORT, beside another version when REUSE_PORT (SO_REUSEPORT, as the real server), and on
 * HEALTH_SOCKET for its own health check; ready (200) only READY_AFTER_MS after start, 503 before.
 */
const SERVER = `const http = require("node:http");
const fs = require("node:fs");
const started = Date.now();
const handler = (request, response) => {
  const ready = Date.now() - started >= Number(process.env.READY_AFTER_MS || 0);
  response.writeHead(ready ? 200 : 503, { "content-type": "application/json" });
  response.end(JSON.stringify({ version: process.env.APP_VERSION, ready }));
};
http.createServer(handler).listen({ port: Number(process.env.PORT), host: "0.0.0.0", reusePort: process.env.REUSE_PORT === "1" }, () => console.log("listening on " + process.env.PORT));
if (process.env.HEALTH_SOCKET) { fs.rmSync(process.env.HEALTH_SOCKET, { force: true }); http.createServer(handler).listen(process.env.HEALTH_SOCKET).unref(); }
process.on("SIGTERM", () => process.exit(0));
`;
/** The path the rendered compose.yaml's health check runs (compose/render.ts HEALTH_COMMAND): this container's own server, by its socket. */
const HEALTHCHECK = `const socketPath = process.env.HEALTH_SOCKET;
require("node:http").get(socketPath ? { socketPath, path: "/" } : { host: "127.0.0.1", port: process.env.PORT, path: "/" }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", () => process.exit(1));
`;
/** Prints a line with terminal colour codes (unless SILENT), then exits with EXIT_CODE. */
const CRASH = `if (!process.env.SILENT) console.log("\\u001b[31mfatal: cannot start\\u001b[0m"); process.exit(Number(process.env.EXIT_CODE));\n`;

const b64 = (text: string) => Buffer.from(text).toString("base64");

export interface TinyVariant {
  version: string;
  readyAfterMs?: number;
  /** Exit at once with this code instead of serving. */
  crashWith?: number;
  /** Crash without a word on stdout or stderr. */
  silent?: boolean;
}

/** Builds and pushes one variant; returns "repository:tag@sha256:…" (the local name is dropped, so a deploy pulls). */
export async function tinyImage(repository: string, tag: string, variant: TinyVariant): Promise<string> {
  const local = `cdrun-build:${tag}-${process.pid}`;
  const cmd = variant.crashWith === undefined ? `["node", "/app/server.js"]` : `["node", "/app/crash.js"]`;
  await buildFromText(
    local,
    [
      `FROM ${BASE_IMAGE}`,
      `RUN mkdir -p /app/dist/server && echo ${b64(SERVER)} | base64 -d > /app/server.js && echo ${b64(HEALTHCHECK)} | base64 -d > /app/dist/server/healthcheck.js && echo ${b64(CRASH)} | base64 -d > /app/crash.js`,
      `ENV APP_VERSION=${variant.version} READY_AFTER_MS=${variant.readyAfterMs ?? 0} EXIT_CODE=${variant.crashWith ?? 0}${variant.silent ? " SILENT=1" : ""}`,
      `USER node`,
      `CMD ${cmd}`,
    ].join("\n"),
  );
  const ref = await push(local, `${REGISTRY}/${repository}:${tag}`);
  await docker(["rmi", local]);
  return ref;
}
