// `bootstrap status`: the resolved configuration with each value's source (secrets redacted), each step's last outcome, identity and the migration marker.
import { describeConfig, resolveConfig, tagLayer, type Layers } from "./config.ts";
import { readJournal, type Journal } from "./journal.ts";
import { MarkerSchema, migrationPaths, readRecord } from "./migration/records.ts";
import { readRecordedIdentity, type RecordedIdentity } from "./steps/identify.ts";
import { sharedTree } from "./steps/layout.ts";

export interface StatusReport {
  config: ReturnType<typeof describeConfig>;
  identity: RecordedIdentity | null;
  steps: Journal["steps"];
  migration: { holder: string; finishedAt: string; files: number; database: string | null; conflicts: string[] } | { error: string } | null;
}

export function statusReport(local: boolean, layers: Layers): StatusReport {
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
  return { config: describeConfig(resolved), identity, steps: readJournal(resolved.config.stateDir).steps, migration };
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
  lines.push("image, health: reported once the start and verify steps exist");
  return lines.join("\n");
}
