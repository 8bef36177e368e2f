// The fleet's life through the AWS twin: signal-window, replacement, supervisor-restart — each on real agents in AWS mode, with its figures and whether its target was met.
import fs from "node:fs";
import path from "node:path";
import { HEALTH_INTERVAL_SECONDS, HEALTH_TIMEOUT_SECONDS, UNHEALTHY_THRESHOLD } from "../../cloudformation/template/settings.ts";
import { crashInstance, restartSupervisor, type AgentInstance, type AwsFleet } from "./aws-fleet.ts";
import { checkAcknowledged } from "./check.ts";
import { startLoad, type LoadOptions, type LoadReport } from "./load.ts";
import { readSignalRecord, type SignalRecord } from "../../bootstrap/steps/signal.ts";
import { readJournal } from "../../bootstrap/journal.ts";

export interface AwsScenarioResult {
  name: string;
  target: string;
  met: boolean;
  seconds: number;
  sent: number;
  failed: number;
  /** Failed requests after the detection window (replacement), else the same as failed. */
  failedAfterDetection: number;
  lost: number;
  figures: string[];
  notes: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, predicate: () => boolean | Promise<boolean>, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await sleep(250);
  }
  return false;
}

function journalNote(instance: AgentInstance, step: string): string | null {
  try {
    const entry = readJournal(instance.stateDir).steps[step];
    return entry ? `${entry.outcome}${entry.note ? `: ${entry.note}` : ""}` : null;
  } catch {
    return null;
  }
}

function signalRecord(instance: AgentInstance): SignalRecord | null {
  try {
    return readSignalRecord(instance.stateDir);
  } catch {
    return null;
  }
}

/** Supervised: the supervisor unit's process runs and has started watching the stack (its log says so). */
export function supervised(instance: AgentInstance): boolean {
  if (!instance.supervisor || instance.supervisor.exitCode !== null) return false;
  try {
    return /supervise: watching/.test(fs.readFileSync(path.join(instance.dir, "supervise.log"), "utf8"));
  } catch {
    return false;
  }
}

function targetState(fleet: AwsFleet, instance: AgentInstance): string {
  return fleet.twin.elbv2.state(fleet.targetGroup.arn, instance.twin.id, fleet.port);
}

function describeFailures(report: LoadReport): string | null {
  if (report.failures.length === 0) return null;
  const kinds = new Map<string, number>();
  // One line per kind: the balancer's own HTML answers carry line breaks.
  for (const failure of report.failures) {
    const what = failure.what.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
    kinds.set(what, (kinds.get(what) ?? 0) + 1);
  }
  return `failed: ${[...kinds].map(([what, n]) => `${n} × ${what}`).join(", ")}`;
}

async function underLoad(fleet: AwsFleet, load: Omit<LoadOptions, "url">, during: (elapsed: () => number, acknowledged: () => number) => Promise<void>): Promise<{ report: LoadReport; lost: number }> {
  const started = Date.now();
  const running = startLoad({ ...load, url: fleet.alb.url });
  try {
    await during(() => (Date.now() - started) / 1000, running.acknowledgedSoFar);
  } catch (error) {
    await running.stop();
    throw error;
  }
  const report = await running.stop();
  const check = checkAcknowledged(path.join(fleet.root, "shared"), report.acknowledged);
  return { report, lost: new Set([...check.missingRows, ...check.missingFiles, ...check.corruptFiles]).size };
}

async function warmUp(acknowledged: () => number, count: number): Promise<void> {
  const start = acknowledged();
  await until("load flowing", () => acknowledged() - start >= count, 120_000);
}

/** The instances the twin's group has in service, as this machine runs them. */
export function inService(fleet: AwsFleet): AgentInstance[] {
  return [...fleet.instances.values()].filter((i) => i.twin.lifecycleState === "InService" && !i.ended);
}

/** Waits for the stack's create (its CreationPolicy's signals) and for every instance to be supervised. */
export async function settleCreate(fleet: AwsFleet): Promise<{ status: string; seconds: number; signalsAccepted: number }> {
  const started = Date.now();
  const status = await fleet.stack.settled;
  await until("every instance supervised", () => inService(fleet).every(supervised), 120_000);
  return { status, seconds: (Date.now() - started) / 1000, signalsAccepted: fleet.stack.signals.filter((s) => s.accepted).length };
}

/**
 * signal-window: after the create settled, a scale-out: the new instance's SUCCESS is refused (the stack waits for none); it serves,
 * is supervised, and its journal says the stack was not waiting. It boots without load (on a 2-core machine shared with the load the
 * app's own 3 s health check times out and the start step fails, whatever the signal); then the load runs through the balancer.
 */
export async function signalWindow(fleet: AwsFleet, load: Omit<LoadOptions, "url">): Promise<AwsScenarioResult> {
  const notes: string[] = [];
  const figures: string[] = [];
  const before = new Set(fleet.instances.keys());
  const scaledAt = Date.now();
  fleet.twin.autoscaling.setDesired(fleet.groupName, inService(fleet).length + 1);
  await until("the new instance launched", () => [...fleet.instances.keys()].some((id) => !before.has(id)), 60_000);
  const fresh = [...fleet.instances.values()].find((i) => !before.has(i.twin.id));
  if (fresh) {
    await Promise.race([fresh.agentDone, sleep(600_000)]);
    await until("supervised and healthy", () => supervised(fresh) && targetState(fleet, fresh) === "healthy", 60_000);
    figures.push(`scale-out to healthy: ${((Date.now() - scaledAt) / 1000).toFixed(0)} s`);
  } else notes.push("no instance launched");
  const servedBefore = fresh ? (fleet.alb.stats().byTarget[fresh.twin.id] ?? 0) : 0;
  const { report, lost } = await underLoad(fleet, load, async (_elapsed, acknowledged) => {
    await warmUp(acknowledged, 3);
    if (fresh) await until("it serves", () => (fleet.alb.stats().byTarget[fresh.twin.id] ?? 0) > servedBefore + 5, 30_000);
  });
  const refused = fleet.stack.signals.filter((s) => !s.accepted);
  const served = fresh ? (fleet.alb.stats().byTarget[fresh.twin.id] ?? 0) - servedBefore : 0;
  const note = fresh ? journalNote(fresh, "signal") : null;
  const record = fresh ? signalRecord(fresh) : null;
  const isSupervised = fresh ? supervised(fresh) : false;
  if (fresh) {
    notes.push(`${fresh.twin.id}: agent exited ${fresh.agentCode}; target ${targetState(fleet, fresh)}; ${isSupervised ? "supervised" : `NOT supervised${fresh.supervisorSkipped ? ` (${fresh.supervisorSkipped})` : ""}`}; served ${served} requests through the balancer`);
    notes.push(`its signal: ${refused.map((s) => `${s.status} refused (stack ${fleet.stack.status})`).join(", ") || "none refused"}; journal: ${note ?? "no signal entry"}; signal.json: ${record ? `${record.status}/${record.outcome ?? "signalled"}` : "none"}`);
  }
  const failure = describeFailures(report);
  if (failure) notes.push(failure);
  const met = !!fresh && fresh.agentCode === 0 && isSupervised && served > 0 && targetState(fleet, fresh) === "healthy" && /not waiting for a signal/.test(note ?? "") && record?.outcome === "not-waiting" && report.failures.length === 0 && lost === 0;
  return { name: "signal-window", target: "the scale-out instance serves, is supervised, its journal says the stack was not waiting; 0 failed", met, seconds: report.seconds, sent: report.sent, failed: report.failures.length, failedAfterDetection: report.failures.length, lost, figures, notes };
}

/** replacement: an instance dies (its app and agent killed, the EC2 instance left running); the target turns unhealthy, the group terminates and replaces it; the replacement joins healthy and supervised. */
export async function replacement(fleet: AwsFleet, load: Omit<LoadOptions, "url">, timeScale: number): Promise<AwsScenarioResult> {
  const notes: string[] = [];
  const figures: string[] = [];
  // The load balancer stops routing after `unhealthy threshold` failed checks: interval × threshold + one check's timeout, scaled; +1 s for the poll.
  const windowSeconds = (HEALTH_INTERVAL_SECONDS * UNHEALTHY_THRESHOLD + HEALTH_TIMEOUT_SECONDS) * timeScale + 1;
  let crashAt = 0;
  let fresh: AgentInstance | undefined;
  const { report, lost } = await underLoad(fleet, load, async (elapsed, acknowledged) => {
    await warmUp(acknowledged, 3);
    const victim = inService(fleet)[0]!;
    const before = new Set(fleet.instances.keys());
    crashAt = elapsed();
    await crashInstance(victim);
    notes.push(`killed ${victim.twin.id}'s app and agent at ${crashAt.toFixed(1)} s`);
    await until("the replacement launched", () => [...fleet.instances.keys()].some((id) => !before.has(id)), 300_000);
    fresh = [...fleet.instances.values()].find((i) => !before.has(i.twin.id));
    if (!fresh) return void notes.push("NO replacement launched");
    figures.push(`unhealthy → replacement launched: ${(elapsed() - crashAt).toFixed(1)} s`);
    await Promise.race([fresh.agentDone, sleep(600_000)]);
    await until("the replacement supervised and healthy", () => supervised(fresh!) && targetState(fleet, fresh!) === "healthy", 60_000);
    figures.push(`kill → replacement healthy: ${(elapsed() - crashAt).toFixed(1)} s`);
    await until("the victim terminated", () => victim.twin.lifecycleState === "Terminated", 120_000);
    notes.push(`${victim.twin.id}: ${victim.twin.lifecycleState} (${victim.twin.cause})`);
    await sleep(3000);
  });
  const afterDetection = report.failures.filter((f) => f.at > crashAt + windowSeconds).length;
  const isSupervised = fresh ? supervised(fresh) : false;
  if (fresh) notes.push(`replacement ${fresh.twin.id}: agent exited ${fresh.agentCode}; target ${targetState(fleet, fresh)}; ${isSupervised ? "supervised" : `NOT supervised${fresh.supervisorSkipped ? ` (${fresh.supervisorSkipped})` : ""}`}; journal signal: ${journalNote(fresh, "signal") ?? "none"}`);
  const failure = describeFailures(report);
  if (failure) notes.push(failure);
  figures.push(`detection window ${windowSeconds.toFixed(1)} s`);
  const met = !!fresh && isSupervised && targetState(fleet, fresh) === "healthy" && afterDetection === 0 && lost === 0;
  return { name: "replacement", target: "replacement healthy and supervised; 0 failed after the detection window; 0 lost", met, seconds: report.seconds, sent: report.sent, failed: report.failures.length, failedAfterDetection: afterDetection, lost, figures, notes };
}

/** supervisor-restart: `systemctl restart` of one instance's supervisor under load: it comes back into the target group; nothing fails. */
export async function supervisorRestart(fleet: AwsFleet, load: Omit<LoadOptions, "url">): Promise<AwsScenarioResult> {
  const notes: string[] = [];
  const figures: string[] = [];
  let back = false;
  let instance: AgentInstance | undefined;
  const { report, lost } = await underLoad(fleet, load, async (elapsed, acknowledged) => {
    await warmUp(acknowledged, 3);
    instance = inService(fleet).find(supervised);
    if (!instance) return void notes.push("no supervised instance to restart");
    const at = elapsed();
    const code = await restartSupervisor(instance);
    notes.push(`${instance.twin.id}'s supervisor stopped (exit ${code}) after ${(elapsed() - at).toFixed(1)} s; target ${targetState(fleet, instance)}; started again`);
    back = await until("back in the target group", () => targetState(fleet, instance!) === "healthy", 180_000);
    figures.push(back ? `restart → healthy in the target group again: ${(elapsed() - at).toFixed(1)} s` : `NOT back in the target group after ${(elapsed() - at).toFixed(0)} s (target ${targetState(fleet, instance)})`);
    await sleep(3000);
  });
  const failure = describeFailures(report);
  if (failure) notes.push(failure);
  if (instance) notes.push(`${instance.twin.id}: ${supervised(instance) ? "supervised" : "NOT supervised"}; the app answers ${await fetch(`http://${instance.host}:${fleet.port}/api/health`).then((r) => r.status, () => "nothing")} locally`);
  const met = back && report.failures.length === 0 && lost === 0;
  return { name: "supervisor-restart", target: "back in the target group (healthy); 0 failed; 0 lost", met, seconds: report.seconds, sent: report.sent, failed: report.failures.length, failedAfterDetection: report.failures.length, lost, figures, notes };
}
