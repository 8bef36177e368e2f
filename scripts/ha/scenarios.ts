// The availability scenarios against a running fleet, each returning its figures: load, duration, requests, failures, degraded seconds, rows expected and found.
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { checkAcknowledged, countRows } from "./check.ts";
import { bootstrap, crash, sharedDir, startSupervisor, terminate, type Instance } from "./fleet.ts";
import { CHECK } from "./haproxy.ts";
import { addInstance, backendRetries, retire, slotStatus, type Harness } from "./harness.ts";
import { journalStep } from "./old-layout.ts";
import { startLoad, type LoadOptions, type LoadReport } from "./load.ts";

export interface ScenarioResult {
  name: string;
  load: string;
  seconds: number;
  sent: number;
  failed: number;
  /** 503/429 with Retry-After (overload said properly). */
  refused: number;
  degradedSeconds: number;
  /** Acknowledged uploads: the rows the analysis table must have gained. */
  rowsExpected: number;
  rowsFound: number;
  /** Acknowledged uploads missing (row or file) or stored with another checksum. */
  lost: number;
  /** Requests HAProxy retried or redispatched (hidden from the client) during the scenario. */
  retried: number;
  /** Answers whose file_hash was not the sha256 of what was sent. */
  mismatched: number;
  notes: string[];
  failures: LoadReport["failures"];
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function describeLoad(options: Omit<LoadOptions, "url">): string {
  return `${options.connections} connections, ${options.mix === "mixed" ? "health/stats/distinct upload/identical upload" : "distinct and identical uploads"}`;
}

/** Runs `during` under load and settles the books: rows gained vs acknowledged, every acknowledged upload stored intact. */
async function underLoad(harness: Harness, name: string, load: Omit<LoadOptions, "url">, during: (progress: { failures: () => number; acknowledged: () => number; elapsed: () => number }) => Promise<string[]>): Promise<ScenarioResult> {
  const shared = sharedDir(harness.options);
  const before = countRows(shared);
  const retriesBefore = await backendRetries(harness);
  const started = Date.now();
  const running = startLoad({ ...load, url: harness.options.haproxy.url });
  let notes: string[];
  try {
    notes = await during({ failures: running.failuresSoFar, acknowledged: running.acknowledgedSoFar, elapsed: () => (Date.now() - started) / 1000 });
  } catch (error) {
    await running.stop();
    throw error;
  }
  const report = await running.stop();
  const after = countRows(shared);
  const retriesAfter = await backendRetries(harness);
  const check = checkAcknowledged(shared, report.acknowledged);
  const lost = new Set([...check.missingRows, ...check.missingFiles, ...check.corruptFiles]).size;
  if (report.failures.length > 0) {
    const kinds = new Map<string, number>();
    for (const failure of report.failures) kinds.set(failure.what, (kinds.get(failure.what) ?? 0) + 1);
    notes.push(`failed: ${[...kinds].map(([what, n]) => `${n} × ${what}`).join(", ")}`);
  }
  if (lost > 0) notes.push(`lost: rows ${check.missingRows.length}, files ${check.missingFiles.length}, corrupt ${check.corruptFiles.length}`);
  return {
    name,
    load: describeLoad(load),
    seconds: report.seconds,
    sent: report.sent,
    failed: report.failures.length,
    refused: report.refused,
    degradedSeconds: report.degradedSeconds,
    rowsExpected: report.acknowledgedUploads,
    rowsFound: after.analyses - before.analyses,
    lost,
    retried: retriesAfter.retries - retriesBefore.retries + (retriesAfter.redispatches - retriesBefore.redispatches),
    mismatched: report.mismatched,
    notes,
    failures: report.failures,
  };
}

/** Polls HAProxy until the instance's slot status matches, bounded; whether it did. */
async function waitForStatus(harness: Harness, instance: Instance, status: RegExp, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (status.test(await slotStatus(harness, instance).catch(() => ""))) return true;
    await sleep(250);
  }
  return false;
}

/** Waits until at least `count` uploads are acknowledged (the load is flowing), bounded. */
async function warmUp(progress: { acknowledged: () => number }, count: number, limitMs = 120_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  const start = progress.acknowledged();
  while (progress.acknowledged() - start < count && Date.now() < deadline) await sleep(200);
}

/** 1: each instance in turn leaves the pool, drains and stops (SIGTERM to its supervisor); a new one with `newImage` boots, is health-gated and joins. deploySeconds: the replacements alone, warm-ups excluded. */
export function rollingDeploy(harness: Harness, newImage: string, load: Omit<LoadOptions, "url">): Promise<ScenarioResult & { deploySeconds: number }> {
  let deploySeconds = 0;
  return underLoad(harness, "1 rolling deploy", load, async (progress) => {
    await warmUp(progress, 3);
    const notes: string[] = [];
    for (const old of [...harness.live]) {
      const started = Date.now();
      const code = await terminate(old);
      retire(harness, old);
      if (code !== 0) notes.push(`${old.name}'s supervisor exited ${code}`);
      const fresh = await addInstance(harness, newImage);
      deploySeconds += (Date.now() - started) / 1000;
      notes.push(`${old.name} → ${fresh.name}`);
      await warmUp(progress, 2);
    }
    harness.image = newImage;
    notes.push(`the replacements took ${deploySeconds.toFixed(1)} s`);
    return notes;
  }).then((result) => ({ ...result, deploySeconds }));
}

/**
 * 1b: the same new version, in place: `bootstrap --local --image NEW` is re-run on every instance at once, beside its
 * running supervisor (as a fleet-wide run command would, or the on-call engineer on one host). On each, the new
 * container starts beside the old one on the instance's port, is health-gated and takes over, so no instance leaves the
 * pool and the fleet keeps its capacity: there is no reason to go one instance at a time (Kamal deploys to every host
 * at once for the same reason). A version that fails its gate is stopped alone on each, the old ones serving. Figures:
 * every slot's HAProxy status sampled throughout (anything but UP is a departure), the seconds per instance, and
 * deploySeconds (from the start to the last instance serving the new version, warm-ups excluded).
 */
export function inPlaceDeploy(harness: Harness, newImage: string, load: Omit<LoadOptions, "url">): Promise<ScenarioResult & { departures: string[]; perInstance: number[]; deploySeconds: number }> {
  const departures: string[] = [];
  const perInstance: number[] = [];
  let deploySeconds = 0;
  return underLoad(harness, "1b in-place deploy", load, async (progress) => {
    const newImageId = (await execa("docker", ["image", "inspect", "--format", "{{.Id}}", newImage])).stdout.trim();
    await warmUp(progress, 3);
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const instance of harness.live) {
          const status = await slotStatus(harness, instance).catch(() => "unreadable");
          if (status !== "UP") departures.push(`${instance.name} ${status} at ${progress.elapsed().toFixed(1)} s`);
        }
        await sleep(250);
      }
    })();
    const notes: string[] = [];
    const started = Date.now();
    try {
      await Promise.all(
        harness.live.map(async (instance) => {
          instance.image = newImage;
          await bootstrap(harness.options, instance);
          const serving = await imagesOf(instance);
          if (serving.length !== 1 || serving[0] !== newImageId) throw new Error(`${instance.name} runs ${serving.join(", ") || "nothing"} after its in-place update, not only ${newImage} (${newImageId})`);
          perInstance.push((Date.now() - started) / 1000);
          notes.push(`${instance.name} updated in place in ${perInstance.at(-1)!.toFixed(1)} s`);
        }),
      );
      deploySeconds = (Date.now() - started) / 1000;
      await warmUp(progress, 2);
    } finally {
      watching = false;
      await watch;
    }
    harness.image = newImage;
    notes.push(`the updates took ${deploySeconds.toFixed(1)} s`);
    notes.push(departures.length === 0 ? "no instance left the pool" : `left the pool: ${departures.slice(0, 5).join(", ")}${departures.length > 5 ? ` (+${departures.length - 5})` : ""}`);
    return notes;
  }).then((result) => ({ ...result, departures, perInstance, deploySeconds }));
}

/** The image IDs of the instance's running app containers (one after a finished update). */
async function imagesOf(instance: Instance): Promise<string[]> {
  const ids = (await execa("docker", ["ps", "--quiet", "--filter", `label=com.docker.compose.project=${instance.project}`, "--filter", "label=com.docker.compose.service=app"])).stdout.split("\n").filter(Boolean);
  if (ids.length === 0) return [];
  return (await execa("docker", ["inspect", "--format", "{{.Image}}", ...ids])).stdout.split("\n").filter(Boolean);
}

/** 2: kill -9 of one instance's container and agent; errors until HAProxy routes around it; the agent (as systemd would restart it) brings it back. */
export function instanceDies(harness: Harness, load: Omit<LoadOptions, "url">, settleSeconds: number): Promise<ScenarioResult & { afterDetection: number; crashAt: number; back: boolean }> {
  let crashAt = 0;
  let back = false;
  return underLoad(harness, "2 instance dies", load, async (progress) => {
    await warmUp(progress, 3);
    const victim = harness.live[0]!;
    crashAt = progress.elapsed();
    await crash(victim);
    const notes = [`killed ${victim.name} (container and agent) at ${crashAt.toFixed(1)} s`];
    // the load runs on the survivors while HAProxy's checks see it gone
    await sleep(CHECK.interSeconds * CHECK.fall * 1000 + 3000);
    notes.push(`HAProxy: ${victim.name} ${await slotStatus(harness, victim)} after ${(progress.elapsed() - crashAt).toFixed(1)} s`);
    // systemd restarts the agent's supervise (Restart=always): it finds the stack (restarted by Docker's policy, or not) and
    // recreates it when unhealthy; HAProxy takes it back after `rise` passing checks.
    // (A bootstrap re-run here refuses: compose/'s health gate reads the killed container's restart count as a crash loop.)
    startSupervisor(harness.options, victim);
    back = await waitForStatus(harness, victim, /^UP$/, 180_000);
    notes.push(`${victim.name} ${back ? "back in the pool" : "NOT back in the pool"} at ${progress.elapsed().toFixed(1)} s (${await slotStatus(harness, victim)})`);
    await sleep(settleSeconds * 1000);
    return notes;
  }).then((result) => {
    const window = CHECK.interSeconds * CHECK.fall + CHECK.timeoutMs / 1000 + 1;
    const afterDetection = result.failures.filter((f) => f.at > crashAt + window).length;
    const degraded = result.failures.length === 0 ? 0 : Math.max(...result.failures.map((f) => f.at)) - crashAt;
    return { ...result, degradedSeconds: Math.max(0, degraded), afterDetection, crashAt, back };
  });
}

/** 4: uploads only, through every instance at once, for `seconds`. */
export function concurrentWriters(harness: Harness, load: Omit<LoadOptions, "url">, seconds: number): Promise<ScenarioResult> {
  return underLoad(harness, "4 concurrent writers", load, async () => {
    await sleep(seconds * 1000);
    return [`${harness.live.length} instances`];
  });
}

/** The migration marker's content (who migrated, when, what), or null without one. */
function markerOf(harness: Harness): string | null {
  try {
    return fs.readFileSync(path.join(sharedDir(harness.options), "codedetect", ".migrated.json"), "utf8");
  } catch {
    return null;
  }
}

/** 3: a third instance joins; it does not migrate again and serves the data already there at once. */
export function scaleOut(harness: Harness, load: Omit<LoadOptions, "url">, known: string[]): Promise<ScenarioResult & { servedKnown: number; knownChecked: number; migratedAgain: boolean }> {
  let servedKnown = 0;
  let migratedAgain = true;
  const markerBefore = markerOf(harness);
  return underLoad(harness, "3 scale out", load, async (progress) => {
    await warmUp(progress, 2);
    const fresh = await addInstance(harness, harness.image);
    const notes = [`${fresh.name} joined; ${harness.live.length} instances`];
    const migrate = journalStep(fresh.stateDir, "migrate");
    const markerAfter = markerOf(harness);
    migratedAgain = migrate === null || migrate.actions.length > 0 || markerAfter !== markerBefore;
    notes.push(`${fresh.name}'s migrate step: ${migrate ? `${migrate.outcome}, ${migrate.actions.length} action(s)` : "no journal entry"}; migration marker ${markerAfter === markerBefore ? "unchanged" : "CHANGED"}`);
    for (const hash of known) {
      const answer = await fetch(`http://127.0.0.1:${fresh.slot.port}/api/analysis/${hash}`).catch(() => null);
      if (answer?.status === 200) servedKnown += 1;
    }
    notes.push(`${fresh.name} served ${servedKnown} of ${known.length} earlier uploads directly`);
    await warmUp(progress, 2);
    return notes;
  }).then((result) => ({ ...result, servedKnown, knownChecked: known.length, migratedAgain }));
}

/** 6: SIGTERM to one instance's supervise process group while requests are in flight: they complete; it leaves the pool before its container stops. */
export function termination(harness: Harness, load: Omit<LoadOptions, "url">): Promise<ScenarioResult & { leftBeforeStop: boolean }> {
  let leftBeforeStop = false;
  return underLoad(harness, "6 termination in flight", load, async (progress) => {
    await warmUp(progress, 3);
    const victim = harness.live[0]!;
    let leftAt: number | null = null;
    let stoppedAt: number | null = null;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const status = await slotStatus(harness, victim).catch(() => "?");
        if (leftAt === null && /MAINT/.test(status)) leftAt = Date.now();
        const running = (await execa("docker", ["ps", "--quiet", "--filter", `label=com.docker.compose.project=${victim.project}`], { reject: false })).stdout.trim();
        if (stoppedAt === null && running === "") stoppedAt = Date.now();
        await sleep(100);
      }
    })();
    const code = await terminate(victim);
    retire(harness, victim);
    await sleep(500);
    watching = false;
    await watch;
    leftBeforeStop = leftAt !== null && stoppedAt !== null && leftAt < stoppedAt;
    const notes = [`${victim.name} exited ${code}; left the pool ${leftAt !== null && stoppedAt !== null ? `${((stoppedAt - leftAt) / 1000).toFixed(1)} s before its container stopped` : "(not observed)"}`];
    const fresh = await addInstance(harness, harness.image);
    notes.push(`replaced by ${fresh.name}`);
    return notes;
  }).then((result) => ({ ...result, leftBeforeStop }));
}

/** A derived image ("the new version"): the fleet's image with a label, pinned by digest the way local mode pins its build. */
export async function newVersionOf(image: string, label: string): Promise<string> {
  const { pinImage } = await import("../../bootstrap/adapters/pin.ts");
  const tag = `cdha-next:${label}`;
  const built = await execa("docker", ["build", "--quiet", "-t", tag, "-"], { input: `FROM ${image}\nLABEL codedetect.ha.version="${label}"\n`, reject: false, timeout: 300_000 });
  if (built.exitCode !== 0) throw new Error(`docker build of the new version failed: ${String(built.stderr).trim()}`);
  return pinImage(tag, "cdha-next");
}

export type { Instance };

/** 5: one instance's shared storage turns read-only: its health turns 503, HAProxy stops sending to it, nothing is lost; writable again, it returns. */
export function storageFails(harness: Harness, load: Omit<LoadOptions, "url">, holdSeconds: number): Promise<ScenarioResult & { wentDown: boolean; back: boolean; detectedAfter: number | null }> {
  let wentDown = false;
  let back = false;
  let detectedAfter: number | null = null;
  return underLoad(harness, "5 shared storage fails", load, async (progress) => {
    if (!harness.options.views) throw new Error("scenario 5 needs the fleet started with views (each instance its own bind mount)");
    const { setStorageReadOnly } = await import("./storage.ts");
    await warmUp(progress, 3);
    const victim = harness.live[0]!;
    const failedAt = progress.elapsed();
    const notes = [`${victim.name}'s storage read-only at ${failedAt.toFixed(1)} s`];
    const refusedRo = await setStorageReadOnly(harness.options, victim, true);
    if (refusedRo.length > 0) notes.push(`stayed writable: ${refusedRo.join("; ")}`);
    wentDown = await waitForStatus(harness, victim, /^DOWN|MAINT/, 60_000);
    detectedAfter = wentDown ? progress.elapsed() - failedAt : null;
    notes.push(`HAProxy: ${victim.name} ${wentDown ? `out of the pool after ${detectedAfter!.toFixed(1)} s` : "NOT taken out"}`);
    await sleep(holdSeconds * 1000);
    const refusedRw = await setStorageReadOnly(harness.options, victim, false);
    if (refusedRw.length > 0) notes.push(`could not restore: ${refusedRw.join("; ")}`);
    const restoredAt = progress.elapsed();
    back = await waitForStatus(harness, victim, /^UP$/, 180_000);
    notes.push(`${victim.name} ${back ? `back in the pool ${(progress.elapsed() - restoredAt).toFixed(1)} s after the storage came back` : "NOT back in the pool"}`);
    await sleep(3000);
    return notes;
  }).then((result) => ({ ...result, wentDown, back, detectedAfter }));
}
