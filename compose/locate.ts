// Finds Compose v2: the `docker compose` plugin or a standalone v2 binary, and says precisely what is missing when neither is there.
import { ComposeError } from "./errors.ts";
import type { RunOutcome } from "./executor.ts";

export interface ComposeCommand {
  /** The argv prefix: ["docker", "compose"] or ["/usr/local/bin/docker-compose"]. */
  argv: string[];
  version: string;
}

export interface ComposeProbe {
  argv: string[];
  outcome: RunOutcome;
}

/** Where Compose v2 may be, in order: an explicit binary, the CLI plugin, a standalone binary on PATH. */
export function composeCandidates(docker: string, explicit?: string): string[][] {
  return [...(explicit ? [[explicit]] : []), [docker, "compose"], ["docker-compose"]];
}

/** The pinned plugin the application image carries, for hosts whose OS packages none (Amazon Linux 2023). */
export const IMAGE_PLUGIN_PATH = "/opt/codedetect/docker-compose";

function versionOf(stdout: string): string | null {
  const match = /v?(\d+\.\d+\.\d+\S*)/.exec(stdout.trim());
  return match?.[1] ?? null;
}

/** Pure: picks the first candidate that answered `version --short` with 2.x or later. */
export function chooseCompose(probes: ComposeProbe[]): ComposeCommand {
  const seen: string[] = [];
  for (const { argv, outcome } of probes) {
    const name = `\`${argv.join(" ")}\``;
    const version = outcome.exitCode === 0 ? versionOf(outcome.stdout) : null;
    if (version && Number(version.split(".")[0]) >= 2) return { argv, version };
    if (version) seen.push(`${name} is v${version} (Compose v1, retired)`);
    else if (outcome.failure?.startsWith("ENOENT")) seen.push(`${argv[0]} not found`);
    else seen.push(`${name} failed (${outcome.failure ?? (outcome.stderr.trim().split("\n").at(-1) || `exit ${outcome.exitCode}`)})`);
  }
  throw new ComposeError({
    what: "Compose v2 not found",
    cause: seen.join("; "),
    next: `install the Compose v2 plugin as /usr/local/lib/docker/cli-plugins/docker-compose (the application image carries a pinned one at ${IMAGE_PLUGIN_PATH}), or set COMPOSE_BIN to a standalone v2 binary`,
  });
}

export async function findCompose(
  run: (argv: string[], options?: { timeoutMs?: number }) => Promise<RunOutcome>,
  candidates: string[][],
): Promise<ComposeCommand> {
  const probes: ComposeProbe[] = [];
  for (const argv of candidates) {
    const outcome = await run([...argv, "version", "--short"], { timeoutMs: 15_000 });
    probes.push({ argv, outcome });
    if (outcome.exitCode === 0 && Number(versionOf(outcome.stdout)?.split(".")[0]) >= 2) break;
  }
  return chooseCompose(probes);
}
