// `bootstrap status`: the resolved configuration with each value's source (secrets redacted), each step's last outcome, identity, the migration marker, the running image and health.
import { imageRefString } from "../compose/model.ts";
import { observeFiles, projectServices } from "../compose/observe.ts";
import { runCommand } from "../compose/executor.ts";
import { statePaths } from "../compose/state.ts";
import { ConfigProblem, describeConfig, resolveConfig, tagLayer, type Config, type Layers } from "./config.ts";
import { candidateStateDirs, findStateDir, readRecordedConfig, withRecorded } from "./recorded-config.ts";
import { checkHealth } from "./health.ts";
import { localUrl, projectName } from "./stack.ts";
import { readJournal, type Journal } from "./journal.ts";
import { MarkerSchema, migrationPaths, readRecord } from "./migration/records.ts";
import { readRecordedIdentity, type RecordedIdentity } from "./steps/identify.ts";
import { sharedTree } from "./steps/layout.ts";

export interface StatusReport {
  config: ReturnType<typeof describeConfig>;
  identity: RecordedIdentity | null;
  steps: Journal["steps"];
  migration: { holder: string; finishedAt: string; files: number; database: string | null; conflicts: string[] } | { error: string } | null;
  stack: StackReport;
}

export interface StackReport {
  project: string;
  url: string;
  /** The model last recorded as good here ("repository:tag@sha256:…"), and an update in flight. */
  recorded: string | null;
  pending: string | null;
  /** What the engine runs: the container's image and its digest, state and health; or why it could not be asked. */
  container: { image: string; digest: string | null; state: string; health: string } | { error: string } | null;
  /** GET /api/health now. */
  health: { healthy: boolean; detail: string };
}

async function stackReport(config: Config): Promise<StackReport> {
  const project = projectName(config);
  const url = localUrl(config);
  let recorded: string | null = null;
  let pending: string | null = null;
  let container: StackReport["container"] = null;
  try {
    const files = await observeFiles(statePaths(config.stateDir));
    recorded = files.state?.current ? imageRefString(files.state.current.image) : null;
    pending = files.state?.pending ? imageRefString(files.state.pending.image) : null;
  } catch (error) {
    container = { error: (error as Error).message };
  }
  try {
    const services = await projectServices({ run: runCommand, docker: "docker", paths: statePaths(config.stateDir) }, project);
    const service = services[0];
    if (service) container = { image: service.image, digest: service.image.includes("@") ? service.image.slice(service.image.indexOf("@") + 1) : (service.repoDigests[0]?.split("@")[1] ?? null), state: service.state, health: service.health };
  } catch (error) {
    container = { error: (error as { cause?: string }).cause ?? (error as Error).message };
  }
  return { project, url, recorded, pending, container, health: await checkHealth(url, 1000) };
}

/** What the state directory records (the sources its last run was given), under what is given now; as given when nothing is recorded. */
function statusSources(local: boolean, given: Layers): { local: boolean; layers: Layers } {
  const stateDir = findStateDir(local, given);
  let recorded;
  try {
    recorded = stateDir ? readRecordedConfig(stateDir) : null;
  } catch (error) {
    throw new ConfigProblem("state directory", (error as Error).message);
  }
  if (recorded) return { local: local || recorded.local, layers: withRecorded(recorded, given) };
  const layers = stateDir ? { ...given, flags: { ...given.flags, stateDir } } : given;
  try {
    resolveConfig(local, layers);
  } catch (error) {
    if (!(error instanceof ConfigProblem) || stateDir) throw error;
    throw new ConfigProblem("status", `no agent run is recorded in ${candidateStateDirs(local).join(" or ")} (${error.message}); name the instance's state directory with --state-dir, or run \`npm run bootstrap\` first`);
  }
  return { local, layers };
}

export async function statusReport(localFlag: boolean, given: Layers): Promise<StatusReport> {
  const { local, layers } = statusSources(localFlag, given);
  const base = resolveConfig(local, layers);
  const identity = readRecordedIdentity(base.config.stateDir);
  const resolved = identity ? resolveConfig(local, { ...layers, tags: tagLayer(identity.tags) }) : base;
  let migration: StatusReport["migration"] = null;
  try {
    const marker = readRecord(migrationPaths(sharedTree(resolved.config.sharedDir).root).marker, MarkerSchema);
    migration = marker && { holder: marker.holder, finishedAt: marker.finishedAt, files: marker.files.length, database: marker.database?.placedAs ?? null, conflicts: marker.conflicts };
  } catch (error) {
    migration = { error: (error as Error).message };
  }
  return { config: describeConfig(resolved), identity, steps: readJournal(resolved.config.stateDir).steps, migration, stack: await stackReport(resolved.config) };
}

export function formatStatus(report: StatusReport): string {
  const width = Math.max(...report.config.map((row) => row.key.length));
  const lines = ["configuration:", ...report.config.map((row) => `  ${row.key.padEnd(width)}  ${JSON.stringify(row.value)}  (${row.source})`)];
  lines.push(`identity: ${report.identity ? `${report.identity.instanceId} in ${report.identity.zone} (${report.identity.source})` : "not identified yet"}`);
  lines.push("steps:");
  const steps = Object.entries(report.steps);
  if (steps.length === 0) lines.push("  (none run yet)");
  for (const [name, entry] of steps) {
    const error = entry.error ? ` — ${String(entry.error.cause ?? "")}` : entry.note ? ` — ${entry.note}` : "";
    lines.push(`  ${name.padEnd(9)} ${entry.outcome.padEnd(9)} ${(entry.durationMs / 1000).toFixed(1)} s at ${entry.startedAt}${error}`);
  }
  const m = report.migration;
  lines.push(`migration: ${m === null ? "none recorded" : "error" in m ? m.error : `by ${m.holder} at ${m.finishedAt}: ${m.files} upload(s), database ${m.database ?? "none"}${m.conflicts.length ? `, ${m.conflicts.length} conflict(s)` : ""}`}`);
  const stack = report.stack;
  const c = stack.container;
  lines.push(`stack: ${stack.project}, recorded ${stack.recorded ?? "nothing yet"}${stack.pending ? `, update pending ${stack.pending}` : ""}`);
  lines.push(`container: ${c === null ? "none" : "error" in c ? `unknown (${c.error})` : `${c.state}, health ${c.health}, image ${c.image}`}`);
  lines.push(`health: ${stack.url}/api/health ${stack.health.healthy ? "healthy" : "not healthy"} (${stack.health.detail})`);
  return lines.join("\n");
}
