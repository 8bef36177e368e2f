// The yardstick for /api/health: a bare node:http server answering the same JSON, run as its own process.
import http from "node:http";

const checks = process.argv[2] ?? "{}";
const head = `{"service":"CodeDetect API","version":"bench","status":`;
const server = http.createServer((_req, res) => {
  const json = `${head}"healthy","timestamp":"${new Date().toISOString()}","checks":${checks}}`;
  res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(json) });
  res.end(json);
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${typeof address === "object" && address ? address.port : 0}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
