// The configuration sources an agent run was given, kept in its state directory, so that `status` reads what the directory records with no flag restated.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { AgentAction } from "../compose/actions.ts";
import { ConfigSchema, defaults, SECRET_KEYS, type ConfigKey, type ConfigLayer, type Layers } from "./config.ts";
import { readRecordFile } from "./record-file.ts";
import { stateFile } from "./state-files.ts";

const LayerSchema = ConfigSchema.partial().strict();
export const RecordedConfigSchema = z.strictObject({
  version: z.literal(1),
  /** --local, or a source that named mode "local". */
  local: z.boolean(),
  recordedAt: z.iso.datetime(),
  file: LayerSchema,
  env: LayerSchema,
  flags: LayerSchema,
});
export type RecordedConfig = z.infer<typeof RecordedConfigSchema>;

/** Stands for a secret's value in the record: status says where it came from, never what it is. */
export const REDACTED = "<redacted>";

export function readRecordedConfig(stateDir: string): RecordedConfig | null {
  return readRecordFile(stateFile(stateDir, "config"), RecordedConfigSchema, "remove it and re-run `npm run bootstrap` (it is written again)");
}

/** A layer as it can be recorded: secrets redacted, and values a higher source overrode that do not fit their field dropped (the run never used them). */
function recordable(layer: ConfigLayer | undefined): z.infer<typeof LayerSchema> {
  const kept: ConfigLayer = {};
  for (const [key, value] of Object.entries(layer ?? {}) as [ConfigKey, unknown][]) {
    if (SECRET_KEYS.has(key)) kept[key] = value === null ? null : REDACTED;
    else if (ConfigSchema.shape[key].safeParse(value).success) kept[key] = value;
  }
  return LayerSchema.parse(kept);
}

/** Pure: the write that records this run's sources (not the instance tags: identify records those in identity.json). */
export function recordConfigAction(stateDir: string, local: boolean, layers: Layers, now: string): AgentAction {
  const record: RecordedConfig = { version: 1, local, recordedAt: now, file: recordable(layers.file), env: recordable(layers.env), flags: recordable(layers.flags) };
  return { kind: "write", path: stateFile(stateDir, "config"), content: `${JSON.stringify(record)}\n`, mode: 0o644 };
}

/** Where `status` looks when no source names the state directory: this mode's default first, then the other mode's. */
export function candidateStateDirs(local: boolean): string[] {
  return [defaults(local).stateDir, defaults(!local).stateDir].map((dir) => path.resolve(dir));
}

/** The state directory `status` reads: the one a source names, else the first default that holds a recorded run; null when none does. */
export function findStateDir(local: boolean, layers: Layers): string | null {
  const named = [layers.flags, layers.env, layers.file].find((layer) => typeof layer?.stateDir === "string")?.stateDir;
  if (typeof named === "string") return path.resolve(named);
  return candidateStateDirs(local).find((dir) => fs.existsSync(stateFile(dir, "config"))) ?? null;
}

/** The recorded sources with the ones given now on top of each (a flag given to status still wins). */
export function withRecorded(recorded: RecordedConfig, now: Layers): Layers {
  return { file: { ...recorded.file, ...now.file }, env: { ...recorded.env, ...now.env }, flags: { ...recorded.flags, ...now.flags }, ...(now.tags ? { tags: now.tags } : {}) };
}
