// `npm start`: the whole stack on this machine — bootstrap in local mode, then supervise in the foreground until Ctrl-C (which stops the stack).
import { runCommand } from "../compose/executor.ts";
import { main } from "./cli.ts";

/** Why the local stack cannot run here (no Docker Engine or no Compose v2), or null. */
export async function dockerMissing(): Promise<string | null> {
  const engine = await runCommand(["docker", "info", "--format", "{{.ServerVersion}}"], { timeoutMs: 20_000 }).catch((error: Error) => ({ exitCode: -1, stdout: "", stderr: error.message, failure: error.message }));
  if (engine.exitCode !== 0) return `no Docker Engine reachable (${engine.failure ?? (engine.stderr.trim().split("\n").at(-1) || `exit ${engine.exitCode}`)})`;
  const compose = await runCommand(["docker", "compose", "version", "--short"], { timeoutMs: 20_000 });
  if (compose.exitCode !== 0) return "Docker Compose v2 is missing (docker compose version failed)";
  return null;
}

const args = process.argv.slice(2).filter((arg) => arg !== "--local");
const missing = await dockerMissing();
if (missing) {
  process.stderr.write(`npm start runs CodeDetect as its real stack on Docker: ${missing}. Install Docker Engine and Compose v2 (bash scripts/setup.sh --test provisions them), or run the server alone: npm run server\n`);
  process.exit(1);
}
const code = await main(["--local", ...args]);
process.exitCode = code === 0 ? await main(["supervise", "--local", ...args.filter((arg) => arg !== "--dry-run")]) : code;
