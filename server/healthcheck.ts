// Container health probe with no extra tools: GET /api/health on $HEALTH_SOCKET (this process, when versions share the port) else http://127.0.0.1:$PORT; exit 0 on 200, else 1 (reason on stderr).
import http from "node:http";

const port = Number(process.env.PORT ?? 5000);
const socketPath = process.env.HEALTH_SOCKET?.trim() || undefined;
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS ?? 2500);

function fail(reason: string): never {
  process.stderr.write(`healthcheck: ${reason}\n`);
  process.exit(1);
}

const request = http.get({ ...(socketPath ? { socketPath } : { host: "127.0.0.1", port }), path: "/api/health", timeout: timeoutMs, agent: false }, (response) => {
  if (response.statusCode === 200) process.exit(0);
  let body = "";
  response.setEncoding("utf8");
  response.on("data", (chunk: string) => (body += chunk));
  response.on("end", () => fail(`GET /api/health answered ${response.statusCode}: ${body.slice(0, 400)}`));
});
request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
request.on("error", (error) => fail(`GET /api/health on ${socketPath ?? `port ${port}`}: ${error.message}`));
