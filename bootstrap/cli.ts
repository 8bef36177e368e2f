// `npm run bootstrap -- [flags]` and `npm run bootstrap -- status`: resolve the configuration once, then run the steps. Exit 0 done, 1 a step failed, 2 bad configuration or usage.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { isMainThread } from "node:worker_threads";
import { withLock } from "../compose/lock.ts";
import { createAwsAdapter, type AwsAdapter } from "./adapters/aws.ts";
import { ConfigProblem, envLayer, fileLayer, flagLayer, resolveConfig, sdkTimeouts, tagLayer, type ConfigKey, type Layers, type Resolved } from "./config.ts";
import { describeFailure, StepError } from "./errors.ts";
import { readJournal } from "./journal.ts";
import { recordConfigAction } from "./recorded-config.ts";
import { createAgentExecutor, type AgentExecutor } from "./executor.ts";
import { observePort, portRefusal } from "./port-check.ts";
import { localUrl, projectName } from "./stack.ts";
import { planFailureSignal } from "./steps/signal.ts";
import { planFailureLaunch, readLaunchRecord } from "./steps/launch.ts";
import { createOutput, type Output } from "./output.ts";
import { runSteps, type Context } from "./step.ts";
import { STEPS } from "./steps/index.ts";
import { statusReport, formatStatus } from "./status.ts";
import { readRecordedIdentity } from "./steps/identify.ts";
import { supervise } from "./supervise.ts";

const USAGE =
  "usage: npm run bootstrap -- [--local] [--config FILE] [--dry-run] [--only STEP | --until STEP] [--json] [--shared-dir DIR] [--migrate-from DIR] [--state-dir DIR] [--port N] [--image REF] | status [--json] | supervise [--local] [--state-dir DIR] [--port N] [--json]";
/** Where user data writes the configuration on an instance. */
export const DEFAULT_CONFIG_FILE = "/etc/codedetect/bootstrap.json";

const FLAG_KEYS: Record<string, ConfigKey> = { "shared-dir": "sharedDir", "migrate-from": "migrateFrom", "state-dir": "stateDir", port: "port", image: "image" };

export interface Invocation {
  command: "run" | "status" | "supervise" | "help";
  local: boolean;
  json: boolean;
  dryRun: boolean;
  only: string | null;
  /** Run the steps up to and including this one (e.g. `--until migrate`: the storage only, no stack). */
  until: string | null;
  configFile: string | null;
  flags: Partial<Record<ConfigKey, string>>;
}

export function parseInvocation(argv: string[]): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        local: { type: "boolean" },
        config: { type: "string" },
        "dry-run": { type: "boolean" },
        only: { type: "string" },
        until: { type: "string" },
        json: { type: "boolean" },
        "shared-dir": { type: "string" },
        "migrate-from": { type: "string" },
        "state-dir": { type: "string" },
        port: { type: "string" },
        image: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new ConfigProblem("usage", `${(error as Error).message}; ${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1 || (positionals[0] !== undefined && !["status", "run", "supervise"].includes(positionals[0]))) {
    throw new ConfigProblem("usage", `unknown command "${positionals.join(" ")}"; ${USAGE}`);
  }
  const flags: Partial<Record<ConfigKey, string>> = {};
  for (const [flag, key] of Object.entries(FLAG_KEYS)) {
    const value = values[flag as keyof typeof values];
    if (typeof value === "string") flags[key] = value;
  }
  if (values.only !== undefined && !STEPS.some((step) => step.name === values.only)) {
    throw new ConfigProblem("--only", `"${values.only}" is not a step; the steps are ${STEPS.map((step) => step.name).join(", ")}`);
  }
  if (values.until !== undefined && !STEPS.some((step) => step.name === values.until)) {
    throw new ConfigProblem("--until", `"${values.until}" is not a step; the steps are ${STEPS.map((step) => step.name).join(", ")}`);
  }
  if (values.until !== undefined && values.only !== undefined) throw new ConfigProblem("--until", "cannot be combined with --only");
  return {
    command: values.help ? "help" : ((positionals[0] ?? "run") as Invocation["command"]),
    local: values.local === true,
    json: values.json === true,
    dryRun: values["dry-run"] === true,
    only: values.only ?? null,
    until: values.until ?? null,
    configFile: values.config ?? null,
    flags,
  };
}

/** Every source but the tags, which only the identify step can read. */
export function baseLayers(invocation: Invocation, env: NodeJS.ProcessEnv): Layers {
  const file = invocation.configFile ?? (!invocation.local && fs.existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null);
  return { file: file ? fileLayer(file) : {}, env: envLayer(env), flags: flagLayer(invocation.flags) };
}

/**
 * A failed step abandons the launching lifecycle action (the group replaces the instance instead of waiting out the heartbeat) and fails
 * the CloudFormation deployment at once (SignalResource FAILURE), not at its timeout; what cannot be sent is said, not hidden.
 */
async function signalFailure(ctx: Context, executor: AgentExecutor, failure: StepError, out: Output): Promise<void> {
  const now = new Date().toISOString();
  let recorded = null;
  try {
    recorded = readLaunchRecord(ctx.config.stateDir);
  } catch (error) {
    out.info(`could not read the launch record: ${(error as Error).message}`);
  }
  for (const action of planFailureLaunch(ctx.config, ctx.identity, recorded, failure, now)) {
    try {
      await executor.perform(action);
    } catch (error) {
      out.info(`could not abandon the launching lifecycle action: ${(error as Error).message}`);
      break;
    }
  }
  for (const action of planFailureSignal(ctx.config, ctx.identity, failure, now)) {
    try {
      await executor.perform(action);
    } catch (error) {
      out.info(`could not signal FAILURE to CloudFormation: ${(error as Error).message}`);
      return;
    }
  }
}

async function run(invocation: Invocation, out: Output): Promise<void> {
  const layers = baseLayers(invocation, process.env);
  let resolved: Resolved = resolveConfig(invocation.local, layers);
  const adapters = new Map<string, AwsAdapter>();
  const ctx: Context = {
    config: resolved.config,
    identity: null,
    tags: {},
    out,
    aws: async (region) => {
      const chosen = ctx.config.region ?? region ?? ctx.identity?.region;
      if (!chosen) throw new Error("no region known yet (set region, or let identify read it)");
      if (!adapters.has(chosen)) adapters.set(chosen, createAwsAdapter({ region: chosen, endpoint: ctx.config.awsEndpoint, timeouts: sdkTimeouts(ctx.config), log: (line) => out.info(line) }));
      return adapters.get(chosen)!;
    },
    applyTags: (tags) => {
      resolved = resolveConfig(invocation.local, { ...layers, tags: tagLayer(tags) });
      ctx.config = resolved.config;
    },
  };
  const executor = createAgentExecutor({ log: (line) => out.info(line), aws: () => ctx.aws(), registryAuth: resolved.config.registryAuth });
  const started = Date.now();
  const body = async () => {
    // What this run was given, so that `status` needs no flag restated (written before the steps: a failed run is reported too)
    if (!invocation.dryRun) await executor.perform(recordConfigAction(ctx.config.stateDir, resolved.config.mode === "local", layers, new Date().toISOString()));
    let reports;
    try {
      reports = await runSteps(STEPS, ctx, executor, { only: invocation.only, until: invocation.until, dryRun: invocation.dryRun });
    } catch (error) {
      if (error instanceof StepError && !invocation.dryRun) await signalFailure(ctx, executor, error, out);
      throw error;
    }
    const changed = reports.filter((report) => report.outcome === "done").map((report) => report.step);
    const summary = invocation.dryRun
      ? "dry run: nothing changed"
      : changed.length > 0
        ? `done in ${((Date.now() - started) / 1000).toFixed(1)} s (changed: ${changed.join(", ")})`
        : `nothing to do (${((Date.now() - started) / 1000).toFixed(1)} s)`;
    out.info(summary, { steps: reports.map((report) => ({ step: report.step, outcome: report.outcome, durationMs: report.durationMs })) });
    if (!invocation.dryRun && reports.some((report) => report.step === "verify" && report.outcome !== "skipped")) out.info(`CodeDetect is up at ${localUrl(ctx.config)}`, { url: localUrl(ctx.config) });
  };
  try {
    readJournal(ctx.config.stateDir);
  } catch (error) {
    throw new ConfigProblem("journal", (error as Error).message);
  }
  // Locally, the image is built before the start step: a port someone else holds is refused before that (AWS: at start, once tags are applied)
  const startIndex = STEPS.findIndex((step) => step.name === "start");
  const reachesStart = invocation.only ? invocation.only === "start" : !invocation.until || STEPS.findIndex((step) => step.name === invocation.until) >= startIndex;
  if (ctx.config.mode === "local" && reachesStart) {
    const refusal = portRefusal(await observePort(ctx.config, projectName(ctx.config)), ctx.config);
    if (refusal) throw refusal;
  }
  if (invocation.dryRun) return body();
  fs.mkdirSync(ctx.config.stateDir, { recursive: true });
  let entered = false;
  try {
    await withLock(path.join(ctx.config.stateDir, "agent"), "bootstrap", () => {
      entered = true;
      return body();
    });
  } catch (error) {
    if (entered) throw error;
    // One agent per state directory (one instance): the second is refused, naming the first.
    const holder = error as { cause?: unknown; next?: unknown; message: string };
    throw new StepError({ step: "start-up", action: `lock the state directory ${ctx.config.stateDir}`, cause: typeof holder.cause === "string" ? holder.cause : holder.message, next: typeof holder.next === "string" ? holder.next : "wait for the other agent to finish" });
  }
}

/** The configuration as bootstrap resolved it (the recorded instance tags included), then the watch. */
async function runSupervise(invocation: Invocation, out: Output): Promise<number> {
  const layers = baseLayers(invocation, process.env);
  const base = resolveConfig(invocation.local, layers).config;
  const identity = readRecordedIdentity(base.stateDir);
  const config = identity ? resolveConfig(invocation.local, { ...layers, tags: tagLayer(identity.tags) }).config : base;
  const adapters = new Map<string, AwsAdapter>();
  const aws = async () => {
    const region = config.region ?? identity?.region;
    if (!region || region === "local") throw new Error("no region known (set region, or run bootstrap first)");
    if (!adapters.has(region)) adapters.set(region, createAwsAdapter({ region, endpoint: config.awsEndpoint, timeouts: sdkTimeouts(config), log: (line) => out.info(line) }));
    return adapters.get(region)!;
  };
  const executor = createAgentExecutor({ log: (line) => out.info(line), aws, registryAuth: config.registryAuth });
  return supervise({ config, out, executor, aws });
}

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes("--json");
  let out = createOutput(json);
  try {
    const invocation = parseInvocation(argv);
    json = invocation.json;
    out = createOutput(json);
    if (invocation.command === "help") {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (invocation.command === "supervise") return await runSupervise(invocation, out);
    if (invocation.command === "status") {
      const report = await statusReport(invocation.local, baseLayers(invocation, process.env));
      process.stdout.write(json ? `${JSON.stringify(report)}\n` : `${formatStatus(report)}\n`);
      return 0;
    }
    await run(invocation, out);
    return 0;
  } catch (error) {
    const failure = describeFailure(error);
    out.failure(failure);
    return failure.exitCode;
  }
}

// The bundle is also the entry of the agent's worker threads (workers.ts): those run their role, never the CLI.
if (import.meta.main && isMainThread) process.exitCode = await main(process.argv.slice(2));
