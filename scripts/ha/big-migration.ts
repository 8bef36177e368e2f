// `npm run ha -- --only big-migration`: three instances launched at once by the twin's group, the first boot migrating an old tree that takes
// longer than the health-check grace on shared storage with EFS-like latency injected; one migration, nothing lost or doubled, nobody
// terminated mid-way, no FAILURE, every instance healthy. Latency: BOOTSTRAP_TEST_FS_LATENCY_MS blocks each metadata operation of the
// migration (no FUSE, LD_PRELOAD or dm-delay here: this kernel has no NFS and the fleet shares a bind mount), and BOOTSTRAP_TEST_LOCK_HOST
// makes each agent another host to the lock (on EC2 they are; on one machine a live pid would otherwise protect the lock).
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { HEALTH_CHECK_GRACE_SECONDS } from "../../cloudformation/template/settings.ts";
import { buildPinnedImage, startAwsFleet, templateHooks, type AwsFleet } from "./aws-fleet.ts";
import { makeOldLayout } from "./old-layout.ts";
import { readJournal } from "../../bootstrap/journal.ts";

export const BIG_MIGRATION = "big-migration";
/** Per metadata round trip, as EFS answers (a few ms; General Purpose mode's documented latency is "single-digit milliseconds"). */
const LATENCY_MS = 2;
const SIZE = 3;

export interface BigMigrationOptions {
  root: string;
  prefix: string;
  timeScale: number;
  files: number;
  log: (line: string) => void;
  keep: boolean;
}

function journal(stateDir: string): Record<string, { outcome: string; note: string | null; durationMs: number }> {
  try {
    return readJournal(stateDir).steps;
  } catch {
    return {};
  }
}

const sha = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

function rows(file: string): number {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM analysis").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** The shared tree against the source: every upload once with its sha256, nothing extra, the rows once, no archive or conflicts. */
function compareTrees(source: string, tree: string): { missing: number; changed: number; extra: number; rowsSource: number; rowsShared: number | null; stray: string[] } {
  // The server's own temporary area (uploads/.tmp) is not migrated data.
  const names = (dir: string) =>
    fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).filter((name) => !name.startsWith(".tmp/")) : [];
  const from = new Set(names(path.join(source, "uploads")));
  const to = new Set(names(path.join(tree, "uploads")));
  let missing = 0;
  let changed = 0;
  for (const name of from) {
    if (!to.has(name)) missing += 1;
    else if (sha(path.join(tree, "uploads", name)) !== sha(path.join(source, "uploads", name))) changed += 1;
  }
  const database = path.join(tree, "database", "codedetect.db");
  const stray = [...names(path.join(tree, "database")).filter((name) => name !== "codedetect.db" && !name.startsWith("codedetect.db-")), ...(fs.existsSync(path.join(tree, "migration-conflicts")) ? ["migration-conflicts/"] : [])];
  return { missing, changed, extra: [...to].filter((name) => !from.has(name)).length, rowsSource: rows(path.join(source, "database", "codedetect.db")), rowsShared: fs.existsSync(database) ? rows(database) : null, stray };
}

let active: AwsFleet | null = null;

/** Ctrl-C of `npm run ha`: the fleet of a run in progress is removed (containers, mounts, processes). */
export async function stopBigMigration(): Promise<void> {
  await active?.stop();
  active = null;
}

export async function runBigMigration(options: BigMigrationOptions): Promise<{ lines: string[]; met: boolean }> {
  const { log } = options;
  const s = options.timeScale;
  const graceSeconds = HEALTH_CHECK_GRACE_SECONDS * s;
  const launchHook = templateHooks().find((hook) => hook.transition === "autoscaling:EC2_INSTANCE_LAUNCHING") ?? null;
  let fleet: AwsFleet | null = null;
  const figures: string[] = [];
  const failures: string[] = [];
  const started = Date.now();
  try {
    const source = path.join(options.root, "old");
    makeOldLayout(source, options.files, 2000);
    log(`${BIG_MIGRATION}: ${options.files} old uploads, ${LATENCY_MS} ms per metadata operation, grace ${HEALTH_CHECK_GRACE_SECONDS} s → ${graceSeconds.toFixed(0)} s; building or reusing the image`);
    const image = await buildPinnedImage(options.root);
    fleet = await startAwsFleet({
      root: options.root,
      prefix: options.prefix,
      image,
      size: SIZE,
      timeScale: s,
      log,
      migrateFrom: source,
      // The lease in real seconds (the agent's clock is not scaled): short (the default is 60 s), so a renewal starved by the placement shows within the run.
      // The hook's heartbeat every third of its scaled timeout, as the agent's default does unscaled.
      agentConfig: { migrateLeaseSeconds: 10, ...(launchHook ? { launchHeartbeatSeconds: Math.max(1, Math.floor((launchHook.heartbeatTimeoutSeconds * s) / 3)) } : {}) },
      agentEnv: (id) => ({ BOOTSTRAP_TEST_FS_LATENCY_MS: String(LATENCY_MS), BOOTSTRAP_TEST_LOCK_HOST: id }),
    });
    active = fleet;
    const status = await Promise.race([fleet.stack.settled, new Promise<string>((resolve) => setTimeout(() => resolve("(not settled)"), 1000 * (900 * s + 120)))]);
    figures.push(`stack ${status}`);
    if (status !== "CREATE_COMPLETE") failures.push(`the create ended ${status}${fleet.stack.statusReason ? ` (${fleet.stack.statusReason})` : ""}`);
    // Every instance that is still running, healthy at the load balancer (bounded by the agent's verify wait).
    const healthyBy = Date.now() + 180_000;
    const running = () => [...fleet!.instances.values()].filter((i) => !i.ended);
    while (Date.now() < healthyBy && !running().every((i) => fleet!.twin.elbv2.state(fleet!.targetGroup.arn, i.twin.id, fleet!.port) === "healthy")) await new Promise((r) => setTimeout(r, 500));
    const launched = fleet.instances.size;
    const terminated = [...fleet.instances.values()].filter((i) => i.ended).map((i) => `${i.twin.id} (${i.twin.cause})`);
    figures.push(`${launched} launched, ${terminated.length} terminated`);
    if (launched !== SIZE || terminated.length > 0) failures.push(`instances terminated or replaced: ${terminated.join(", ") || `${launched} launched for ${SIZE}`}`);
    const failuresSignalled = fleet.stack.signals.filter((signal) => signal.status === "FAILURE").length;
    figures.push(`${fleet.stack.signals.filter((signal) => signal.status === "SUCCESS" && signal.accepted).length} SUCCESS / ${failuresSignalled} FAILURE signals`);
    if (failuresSignalled > 0) failures.push(`${failuresSignalled} FAILURE signal(s)`);
    const notes = [...fleet.instances.values()].map((i) => ({ id: i.twin.id, migrate: journal(i.stateDir).migrate }));
    const migrated = notes.filter((n) => n.migrate?.note?.startsWith("migrated "));
    const waited = notes.filter((n) => n.migrate?.note?.includes("(waited for it)"));
    const migrationSeconds = Math.max(0, ...migrated.map((n) => (n.migrate?.durationMs ?? 0) / 1000));
    figures.push(`${migrated.length} migrated, ${waited.length} waited for the lock and used it; migration ${migrationSeconds.toFixed(0)} s (${(migrationSeconds / graceSeconds).toFixed(1)} × the grace)`);
    if (migrated.length !== 1) failures.push(`${migrated.length} instances migrated: ${notes.map((n) => `${n.id}: ${n.migrate ? `${n.migrate.outcome} ${n.migrate.note ?? ""}` : "no migrate step"}`).join(" | ")}`);
    if (migrated.length === 1 && migrationSeconds <= graceSeconds) failures.push(`the migration (${migrationSeconds.toFixed(0)} s) did not outlast the grace (${graceSeconds.toFixed(0)} s): raise --files`);
    const tree = compareTrees(source, path.join(fleet.root, "shared", "codedetect"));
    figures.push(`uploads missing ${tree.missing}, changed ${tree.changed}, extra ${tree.extra}; rows ${tree.rowsShared ?? "no database"} of ${tree.rowsSource}`);
    if (tree.missing + tree.changed + tree.extra > 0 || tree.rowsShared !== tree.rowsSource || tree.stray.length > 0) failures.push(`the shared tree differs from the source${tree.stray.length ? ` (also ${tree.stray.join(", ")})` : ""}`);
    const unhealthy = running().filter((i) => fleet!.twin.elbv2.state(fleet!.targetGroup.arn, i.twin.id, fleet!.port) !== "healthy").map((i) => i.twin.id);
    if (unhealthy.length > 0 || running().length < SIZE) failures.push(`not healthy at the end: ${unhealthy.join(", ") || `${running().length} running`}`);
  } catch (error) {
    failures.push(`the run stopped: ${(error as Error).message}`);
  } finally {
    await fleet?.stop();
    active = null;
    if (!options.keep) fs.rmSync(options.root, { recursive: true, force: true });
    else log(`kept ${options.root}`);
  }
  const met = failures.length === 0;
  const lines = [
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, node ${process.version}. Three real agents in AWS mode launched at once by the twin's group (its hooks read from cloudformation/codedetect.yaml: ${launchHook ? `a launching hook, heartbeat ${launchHook.heartbeatTimeoutSeconds} s` : "no launching hook"}), all pointed at one old tree of ${options.files} uploads and 2000 rows; ${LATENCY_MS} ms injected into every metadata operation of the migration (test hook BOOTSTRAP_TEST_FS_LATENCY_MS), each agent a separate host to the lock (BOOTSTRAP_TEST_LOCK_HOST), lease 10 s. The twin's clock ×${s}: grace ${HEALTH_CHECK_GRACE_SECONDS} s → ${graceSeconds.toFixed(0)} s, CreationPolicy PT15M → ${(900 * s).toFixed(0)} s.`,
    "",
    "| scenario | duration | figures | target | met |",
    "|---|---|---|---|---|",
    `| ${BIG_MIGRATION} | ${((Date.now() - started) / 1000).toFixed(0)} s | ${figures.join("; ")} | one migration outlasting the grace, nothing lost or doubled, nobody terminated, no FAILURE, all healthy | ${met ? "yes" : "**no**"} |`,
    "",
    ...(met ? [] : [`- ${BIG_MIGRATION} failed: ${failures.join("; ")}`, ""]),
  ];
  return { lines, met };
}
