// `npm run ha`: the availability scenarios, long form, on a fleet on this machine (real agents, real image, HAProxy or the AWS twin, autocannon); rewrites BENCHMARKS.md's `ha` and `ha-aws` sections.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { writeSection } from "./bench/report.ts";
import { ALB_SCENARIOS, albTable, fairShareBehindLb, keepAlive, type AlbResult } from "./ha/behind-alb.ts";
import { CHECK } from "./ha/haproxy.ts";
import { fleetUnavailable, startFleet, stopFleet, type Harness } from "./ha/harness.ts";
import { BIG_MIGRATION, runBigMigration, stopBigMigration } from "./ha/big-migration.ts";
import { concurrentWriters, inPlaceDeploy, instanceDies, newVersionOf, rollingDeploy, scaleOut, storageFails, termination, type ScenarioResult } from "./ha/scenarios.ts";
import { AWS_SCENARIOS, runAwsScenarios } from "./ha/aws-run.ts";

const NAMED = [...ALB_SCENARIOS, ...AWS_SCENARIOS, BIG_MIGRATION];
const USAGE = `usage: npm run ha [-- --quick] [--no-write] [--keep] [--time-scale F] [--only 1,1b,2,3,4,5,6,${NAMED.join(",")}]`;
let flags: { quick?: boolean; "no-write"?: boolean; keep?: boolean; only?: string; "time-scale"?: string };
try {
  flags = parseArgs({ options: { quick: { type: "boolean" }, "no-write": { type: "boolean" }, keep: { type: "boolean" }, only: { type: "string" }, "time-scale": { type: "string" } }, strict: true }).values;
  const known = ["1", "1b", "2", "3", "4", "5", "6", ...NAMED];
  const unknown = flags.only?.split(",").filter((name) => !known.includes(name)) ?? [];
  if (unknown.length > 0 || flags.only === "") throw new Error(`--only takes scenario numbers 1-6, 1b and names (${NAMED.join(", ")}) separated by commas; not ${flags.only === "" ? '""' : unknown.map((u) => JSON.stringify(u)).join(", ")}`);
  const scale = Number(flags["time-scale"] ?? "0.2");
  if (!(scale > 0 && scale <= 1)) throw new Error(`--time-scale must be a number in (0, 1] (AWS seconds run this many times as fast), not "${flags["time-scale"]}"`);
} catch (error) {
  console.error(`ha: ${(error as Error).message}; ${USAGE}`);
  process.exit(2);
}
/** Only AWS-twin scenarios were asked for: the HAProxy fleet is not started. */
class SkipClassic extends Error {}
const wanted = (n: number | string) => flags.only === undefined || flags.only.split(",").includes(String(n));
// the HAProxy fleet also carries the ALB-twin scenarios (the ALB twin is put in front of its instances)
const classic = [1, "1b", 2, 3, 4, 5, 6, ...ALB_SCENARIOS].some((n) => wanted(n));
const awsWanted = AWS_SCENARIOS.filter((name) => wanted(name));

const reason = await fleetUnavailable();
if (reason) {
  console.error(`ha: cannot run the fleet here: ${reason}`);
  process.exit(1);
}

const quick = flags.quick === true;
const root = classic ? fs.mkdtempSync(path.join(os.tmpdir(), "cdha-")) : "";
const log = (line: string) => console.log(`ha: ${line}`);
const results: { result: ScenarioResult; target: string; met: boolean; extra: string }[] = [];
const albResults: AlbResult[] = [];
let harness: Harness | null = null;
/** Removes the AWS-twin fleet (its Compose projects, mounts) when the run is interrupted. */
let stopAwsFleet: (() => Promise<void>) | null = null;
let stopping = false;
const onSignal = () => {
  if (stopping) process.exit(130);
  stopping = true;
  log("interrupted: removing the fleet");
  void Promise.all([stopFleet(harness), stopAwsFleet?.(), stopBigMigration()]).finally(() => {
    if (!flags.keep && root) fs.rmSync(root, { recursive: true, force: true });
    process.exit(130);
  });
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const mixed = { connections: quick ? 3 : 4, maxSeconds: 900, mix: "mixed" as const };
/** Scenario 1's deploy time, for scenario 1b's comparison in the same run. */
let replacedSeconds: number | null = null;
let exitCode = 0;
try {
  if (!classic) throw new SkipClassic();
  log(`fleet of 2 under ${root} (the first instance builds the image)`);
  harness = await startFleet({ root, prefix: `cdha-${process.pid}`, size: 2, slotCount: 8, views: true, oldLayout: true });

  if (wanted(1)) {
    log("scenario 1: rolling deploy");
    const next = await newVersionOf(harness.image, `ha-${process.pid}`);
    const deploy = await rollingDeploy(harness, next, mixed);
    replacedSeconds = deploy.deploySeconds;
    results.push({ result: deploy, target: "0 failed, 0 lost", met: deploy.failed === 0 && deploy.lost === 0 && deploy.rowsFound === deploy.rowsExpected, extra: "" });
  }

  if (wanted("1b")) {
    log("scenario 1b: the next version in place on every instance at once (bootstrap re-run beside supervise)");
    const next = await newVersionOf(harness.image, `ha-${process.pid}-in-place`);
    const inPlace = await inPlaceDeploy(harness, next, mixed);
    const versus = replacedSeconds === null ? "" : `the deploy took ${inPlace.deploySeconds.toFixed(1)} s in place against ${replacedSeconds.toFixed(1)} s replacing the instances one at a time (scenario 1, this run): ${(replacedSeconds / inPlace.deploySeconds).toFixed(2)}× as fast`;
    results.push({
      result: inPlace,
      target: "0 failed, 0 lost; no instance leaves the pool",
      met: inPlace.failed === 0 && inPlace.lost === 0 && inPlace.rowsFound === inPlace.rowsExpected && inPlace.departures.length === 0,
      extra: versus,
    });
  }

  if (wanted(2)) {
    log("scenario 2: an instance dies");
    const dies = await instanceDies(harness, mixed, quick ? 3 : 10);
    const window = CHECK.interSeconds * CHECK.fall;
    results.push({
      result: dies,
      target: `errors only within detection (${window} s + check timeout), then 0; 0 lost`,
      met: dies.afterDetection === 0 && dies.lost === 0 && dies.rowsFound >= dies.rowsExpected,
      extra: `${dies.failed} failed requests in ${dies.degradedSeconds.toFixed(1)} s after the kill; ${dies.afterDetection} after the detection window`,
    });
  }

  if (wanted(3)) {
    log("scenario 3: scale out to 3");
    const known: string[] = [];
    const shared = path.join(root, "shared", "codedetect", "uploads");
    for (const name of fs.readdirSync(shared)) if (name.endsWith(".py") && known.length < 50) known.push(name.slice(0, -3));
    const scale = await scaleOut(harness, mixed, known);
    results.push({ result: scale, target: "joins without migrating; serves earlier data at once; 0 failed", met: scale.failed === 0 && scale.lost === 0 && scale.servedKnown === scale.knownChecked && !scale.migratedAgain, extra: "" });
  }

  if (wanted(4)) {
    log("scenario 4: concurrent writers");
    const writers = await concurrentWriters(harness, { connections: quick ? 8 : 16, maxSeconds: 900, mix: "uploads" }, quick ? 15 : 60);
    results.push({ result: writers, target: "rows = acknowledged; overload 503/429 with Retry-After only", met: writers.failed === 0 && writers.lost === 0 && writers.rowsFound === writers.rowsExpected, extra: `${writers.refused} answered 503/429 with Retry-After` });
  }

  if (wanted(5)) {
    log("scenario 5: shared storage fails for one instance");
    const storage = await storageFails(harness, mixed, quick ? 5 : 15);
    results.push({
      result: storage,
      target: "out of the pool, 0 lost, back when storage returns",
      met: storage.wentDown && storage.back && storage.lost === 0 && storage.rowsFound === storage.rowsExpected,
      extra: `${storage.refused} uploads answered 503 with Retry-After while it was failing`,
    });
  }

  if (wanted(6)) {
    log("scenario 6: termination with requests in flight");
    const term = await termination(harness, mixed);
    results.push({ result: term, target: "0 failed; leaves the pool before it stops", met: term.failed === 0 && term.lost === 0 && term.leftBeforeStop, extra: term.leftBeforeStop ? "left the pool before its container stopped" : "did NOT leave the pool before stopping" });
  }

  if (wanted("keep-alive")) {
    log("keep-alive: the ALB twin reuses idle connections up to its 120 s idle timeout (about 2 minutes, real time)");
    albResults.push(await keepAlive(harness, quick ? 120 : 300));
  }

  if (wanted("fair-share-behind-lb")) {
    log("fair-share-behind-lb: one client floods through the ALB twin, another is served");
    albResults.push(await fairShareBehindLb(harness, 16, quick ? 5 : 10));
  }
} catch (error) {
  if (!(error instanceof SkipClassic)) {
    console.error(`ha: ${(error as Error).stack ?? error}`);
    exitCode = 1;
  }
} finally {
  await stopFleet(harness);
  if (!flags.keep && root) fs.rmSync(root, { recursive: true, force: true });
  else if (root) log(`kept ${root} (logs, state directories, the shared directory; the fleet itself is removed)`);
}

/** The command as it was given (its scenario list too), for the section's "Command:" line. */
const given = [quick ? "--quick" : "", flags.only === undefined ? "" : `--only ${flags.only}`].filter(Boolean).join(" ");
const commandRun = `npm run ha${given ? ` -- ${given}` : ""}`;
const lines = [
  `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, node ${process.version}; HAProxy 2.6 on loopback, health check \`GET /api/health\` inter ${CHECK.interSeconds}s fall ${CHECK.fall} rise ${CHECK.rise} (the target group's 10 s / 2 / 2 scaled tenfold); instances are the agent in local mode (\`bootstrap/cli.ts --local\`, then \`supervise --local\`), one Compose project and port each, one shared directory; load by autocannon through HAProxy.`,
  "",
  "| scenario | load | duration | requests | failed | refused (Retry-After) | retried by HAProxy | degraded | rows expected / found | lost | target | met |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ...results.map(({ result: r, target, met }) => `| ${r.name} | ${r.load} | ${r.seconds.toFixed(0)} s | ${r.sent} | ${r.failed} | ${r.refused} | ${r.retried} | ${r.degradedSeconds.toFixed(1)} s | ${r.rowsExpected} / ${r.rowsFound} | ${r.lost} | ${target} | ${met ? "yes" : "**no**"} |`),
  "",
  "failed: any answer but 2xx or 503/429 with Retry-After, a connection error or a timeout, as the client saw it. refused: 503/429 with Retry-After (overload said properly; the client may retry). retried by HAProxy: requests it sent again after a refused connection or an empty answer (`retry-on conn-failure empty-response`, `option redispatch`), which the client never saw fail. degraded: first to last failed request. rows: the analysis table's growth (one row per acknowledged analysis, repeats included) against the uploads acknowledged with 200; lost: acknowledged uploads without their row or file, or whose stored file's sha256 is not what was sent.",
  "",
  ...results.flatMap(({ result: r, extra }) => [`- ${r.name}: ${[extra, ...r.notes].filter(Boolean).join("; ")}`]),
  "",
];
if (results.length > 0) for (const line of lines) console.log(line);
if (!flags["no-write"] && results.length > 0) writeSection(path.join(import.meta.dirname, "..", "BENCHMARKS.md"), "ha", "Availability: a fleet behind HAProxy through deploys and failures", commandRun, lines);
const machine = `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, node ${process.version}`;
const albLines = albTable(albResults, machine);
if (albResults.length > 0) for (const line of albLines) console.log(line);
if (!flags["no-write"] && albResults.length > 0) {
  const command = `npm run ha -- ${quick ? "--quick " : ""}--only ${albResults.map((r) => r.name).join(",")}`;
  writeSection(path.join(import.meta.dirname, "..", "BENCHMARKS.md"), "ha-alb", "Availability: the fleet behind the ALB twin", command, albLines);
}
if (results.some((r) => !r.met) || albResults.some((r) => !r.met)) exitCode = 1;


if (awsWanted.length > 0 && !stopping) {
  const awsRoot = fs.mkdtempSync(path.join(os.tmpdir(), "cdha-aws-"));
  const outcome = await runAwsScenarios({ root: awsRoot, prefix: `cdaws${process.pid}`, wanted: awsWanted, timeScale: Number(flags["time-scale"] ?? "0.2"), quick, log, keep: flags.keep === true, onFleet: (stop) => (stopAwsFleet = stop) });
  for (const line of outcome.lines) console.log(line);
  const command = `npm run ha -- --only ${awsWanted.join(",")}${flags["time-scale"] ? ` --time-scale ${flags["time-scale"]}` : ""}`;
  if (!flags["no-write"] && outcome.results.length > 0) writeSection(path.join(import.meta.dirname, "..", "BENCHMARKS.md"), "ha-aws", "Fleet through the AWS twin: real agents in AWS mode", command, outcome.lines);
  if (outcome.failed) exitCode = 1;
}

if (wanted(BIG_MIGRATION) && !stopping) {
  const big = await runBigMigration({ root: fs.mkdtempSync(path.join(os.tmpdir(), "cdha-big-")), prefix: `cdbig${process.pid}`, timeScale: 0.3, files: 8000, log, keep: flags.keep === true });
  for (const line of big.lines) console.log(line);
  if (!flags["no-write"]) writeSection(path.join(import.meta.dirname, "..", "BENCHMARKS.md"), BIG_MIGRATION, "Big migration: the first boot outlasts the health-check grace (AWS twin)", `npm run ha -- --only ${BIG_MIGRATION}`, big.lines);
  if (!big.met) exitCode = 1;
}
process.exit(exitCode);
