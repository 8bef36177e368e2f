// Step 4, migrate: the old single-instance data (database/codedetect.db, uploads/) onto the shared tree, once for the whole fleet.
import fs from "node:fs";
import type { AgentAction } from "../../compose/actions.ts";
import type { Config } from "../config.ts";
import { MarkerSchema, migrationPaths, readRecord } from "../migration/records.ts";
import { sourcePaths } from "../migration/migrate.ts";
import { sharedTree } from "./layout.ts";
import type { Step } from "../step.ts";

export interface MigrateSeen {
  holder: string;
  /** What the old layout holds; null when there is none (nothing to migrate). */
  source: { database: boolean; uploads: boolean } | null;
  marker: { holder: string; finishedAt: string } | null;
  /** A commit record of an interrupted migration: it must be rolled forward even if the source is gone. */
  pending: boolean;
  /** The work directory left by a run killed after its marker. */
  leftover: boolean;
}

export function planMigrate(seen: MigrateSeen, config: Config): AgentAction[] {
  const paths = migrationPaths(sharedTree(config.sharedDir).root);
  if (seen.marker) return seen.leftover ? [{ kind: "remove", path: paths.work, purpose: "work directory of a finished migration" }] : [];
  if (!seen.pending && (seen.source === null || (!seen.source.database && !seen.source.uploads))) return [];
  return [
    {
      kind: "migrate",
      source: config.migrateFrom ?? "",
      target: paths.target,
      owner: config.appUid,
      holder: seen.holder,
      leaseSeconds: config.migrateLeaseSeconds,
      lockWaitSeconds: config.migrateLockWaitSeconds,
    },
  ];
}

export const migrateStep: Step<MigrateSeen> = {
  name: "migrate",
  async observe(ctx) {
    const paths = migrationPaths(sharedTree(ctx.config.sharedDir).root);
    const from = ctx.config.migrateFrom;
    const source = from && fs.existsSync(from) ? { database: fs.existsSync(sourcePaths(from).database), uploads: fs.existsSync(sourcePaths(from).uploads) } : null;
    const marker = readRecord(paths.marker, MarkerSchema);
    return {
      holder: ctx.identity?.instanceId ?? "unknown",
      source,
      marker: marker && { holder: marker.holder, finishedAt: marker.finishedAt },
      pending: fs.existsSync(paths.commit),
      leftover: fs.existsSync(paths.work),
    };
  },
  plan: planMigrate,
};
