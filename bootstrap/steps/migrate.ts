// Step 4, migrate: the old single-instance data (database/codedetect.db, uploads/) onto the shared tree, once for the whole fleet.
import fs from "node:fs";
import path from "node:path";
import type { AgentAction } from "../../compose/actions.ts";
import type { Config } from "../config.ts";
import { MarkerSchema, migrationPaths, readRecord } from "../migration/records.ts";
import { sourcePaths } from "../migration/perform-migration.ts";
import { isStale, readLock } from "../migration/lock.ts";
import { launchHeartbeat } from "./launch.ts";
import { sharedTree } from "./layout.ts";
import type { Step } from "../step.ts";

export interface MigrateSeen {
  holder: string;
  /** What the old layout holds; null when there is none (nothing to migrate). */
  source: { database: boolean; uploads: boolean } | null;
  marker: { holder: string; finishedAt: string } | null;
  /** A commit record of an interrupted migration: it must be rolled forward even if the source is gone. */
  pending: boolean;
  /** What a run killed after writing its marker left behind: the work directory, a dead holder's lock, lock temporaries. */
  leftovers: string[];
}

export function planMigrate(seen: MigrateSeen, config: Config): AgentAction[] {
  const paths = migrationPaths(sharedTree(config.sharedDir).root);
  if (seen.marker) return seen.leftovers.map((leftover) => ({ kind: "remove", path: leftover, purpose: "left behind by a finished migration" }));
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
      heartbeat: launchHeartbeat(config, seen.holder),
    },
  ];
}

export const migrateStep: Step<MigrateSeen> = {
  name: "migrate",
  async observe(ctx) {
    const paths = migrationPaths(sharedTree(ctx.config.sharedDir).root);
    const from = ctx.config.migrateFrom;
    if (from && !fs.existsSync(from)) ctx.out.info(`migrate: ${from} does not exist; nothing to migrate from it`);
    const source = from && fs.existsSync(from) ? { database: fs.existsSync(sourcePaths(from).database), uploads: fs.existsSync(sourcePaths(from).uploads) } : null;
    const marker = readRecord(paths.marker, MarkerSchema);
    const leftovers: string[] = [];
    if (marker) {
      const lock = readLock(paths.lock);
      if (lock === null || (lock !== "unreadable" && isStale(lock, Date.now()))) {
        if (fs.existsSync(paths.work)) leftovers.push(paths.work);
        if (lock !== null) leftovers.push(paths.lock);
        for (const name of fs.readdirSync(paths.target)) if (name.startsWith(`${path.basename(paths.lock)}.`)) leftovers.push(path.join(paths.target, name));
      }
    }
    return {
      holder: ctx.identity?.instanceId ?? "unknown",
      source,
      marker: marker && { holder: marker.holder, finishedAt: marker.finishedAt },
      pending: fs.existsSync(paths.commit),
      leftovers,
    };
  },
  plan: planMigrate,
};
