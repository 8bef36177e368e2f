// The step framework: observe the world (read only), plan what is missing as Actions (pure), perform, check convergence, journal.
import { describeAgentAction, describeAgentPlan, type AgentAction } from "../compose/actions.ts";
import type { Probe } from "../compose/executor.ts";
import type { AwsAdapter } from "./adapters/aws.ts";
import { ConfigProblem, type Config } from "./config.ts";
import { crashPoint } from "./crash.ts";
import { asStepError, StepError } from "./errors.ts";
import type { AgentExecutor } from "./executor.ts";
import { recordStep } from "./journal.ts";
import type { Output } from "./output.ts";

export interface Identity {
  instanceId: string;
  zone: string;
  region: string;
  source: "imds" | "host";
}

export interface Context {
  config: Config;
  /** Set by the identify step's observation; later steps read it. */
  identity: Identity | null;
  /** Instance tags read by identify (codedetect:* overrides are applied to `config` by the CLI). */
  tags: Record<string, string>;
  /** Re-resolves the configuration with the instance's tags (throws a ConfigProblem when a tag is bad). */
  applyTags?: (tags: Record<string, string>) => void;
  /** The AWS adapter for `region` (default: the configured region, else this instance's). */
  aws: (region?: string) => Promise<AwsAdapter>;
  out: Output;
}

export interface Step<Seen> {
  name: string;
  /** Reads the world, changes nothing. */
  observe(ctx: Context): Promise<Seen>;
  /** Pure: the actions that bring the world to this step's goal; [] means already done. Throws a StepError when it cannot. */
  plan(seen: Seen, config: Config): AgentAction[];
  /** What this step's observation teaches the context (identify sets the identity). */
  learn?(seen: Seen, ctx: Context): void;
  /** The poller behind a wait action this step plans, by name. */
  probe?(name: string, ctx: Context): Probe | undefined;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStep = Step<any>;

export interface RunOptions {
  only?: string | null;
  /** Stop after this step. */
  until?: string | null;
  dryRun?: boolean;
}

export interface StepReport {
  step: string;
  outcome: "done" | "unchanged" | "planned" | "skipped";
  durationMs: number;
  actions: string[];
  note: string | null;
}

async function observeStep(step: AnyStep, ctx: Context): Promise<unknown> {
  try {
    return await step.observe(ctx);
  } catch (error) {
    throw asStepError(step.name, "observe", error);
  }
}

function planStep(step: AnyStep, seen: unknown, ctx: Context): AgentAction[] {
  try {
    return step.plan(seen, ctx.config);
  } catch (error) {
    throw asStepError(step.name, "plan", error);
  }
}

/** Runs the steps in order; the first failure is journaled and thrown as a StepError. With `only`, earlier steps are observed (for what they teach) and must already be done. */
export async function runSteps(steps: AnyStep[], ctx: Context, executor: AgentExecutor, options: RunOptions = {}): Promise<StepReport[]> {
  if (options.only && !steps.some((step) => step.name === options.only)) {
    throw new StepError({ step: options.only, action: "select", cause: "no such step", next: `use one of: ${steps.map((step) => step.name).join(", ")}` });
  }
  const reports: StepReport[] = [];
  const onlyIndex = options.only ? steps.findIndex((step) => step.name === options.only) : -1;
  for (const [index, step] of steps.entries()) {
    if (onlyIndex !== -1 && index > onlyIndex) break;
    if (options.until && index > steps.findIndex((candidate) => candidate.name === options.until)) break;
    const selected = onlyIndex === -1 || index === onlyIndex;
    const started = Date.now();
    const startedAt = new Date(started).toISOString();
    const planned: string[] = [];
    let note: string | null = null;
    try {
      const seen = await observeStep(step, ctx);
      step.learn?.(seen, ctx);
      if (!selected) {
        // An earlier step must already be done: `--only migrate` never writes into an unmounted directory.
        const missing = planStep(step, seen, ctx);
        if (missing.length > 0) {
          throw new StepError({
            step: step.name,
            action: `check before --only ${options.only}`,
            cause: `this earlier step is not done (it would: ${missing.map(describeAgentAction).join("; ")})`,
            next: `run \`npm run bootstrap\` without --only, or --only ${step.name} first`,
          });
        }
        reports.push({ step: step.name, outcome: "skipped", durationMs: Date.now() - started, actions: [], note: null });
        continue;
      }
      const actions = planStep(step, seen, ctx);
      planned.push(...actions.map(describeAgentAction));
      if (options.dryRun) {
        ctx.out.plan(step.name, describeAgentPlan(actions));
        reports.push({ step: step.name, outcome: "planned", durationMs: Date.now() - started, actions: planned, note: null });
        continue;
      }
      ctx.out.stepStarted(step.name, actions.length);
      const probe = (name: string) => step.probe?.(name, ctx);
      for (const action of actions) {
        try {
          note = (await executor.perform(action, probe)) ?? note;
        } catch (error) {
          throw asStepError(step.name, describeAgentAction(action), error);
        }
      }
      if (actions.length > 0) {
        const after = planStep(step, await observeStep(step, ctx), ctx);
        if (after.length > 0) {
          throw new StepError({
            step: step.name,
            action: "check the result",
            cause: `the actions ran but the step is not done: still planned ${after.map(describeAgentAction).join("; ")}`,
            next: "look at the log above for what changed the world meanwhile, then re-run",
          });
        }
      }
      const report: StepReport = { step: step.name, outcome: actions.length > 0 ? "done" : "unchanged", durationMs: Date.now() - started, actions: planned, note };
      recordStep(ctx.config.stateDir, step.name, { outcome: report.outcome === "done" ? "done" : "unchanged", startedAt, durationMs: report.durationMs, actions: planned, note, error: null });
      ctx.out.stepFinished(report);
      reports.push(report);
      crashPoint();
    } catch (thrown) {
      if (thrown instanceof ConfigProblem) throw thrown;
      const error = asStepError(step.name, "run", thrown);
      if (!options.dryRun) {
        recordStep(ctx.config.stateDir, step.name, { outcome: "failed", startedAt, durationMs: Date.now() - started, actions: planned, note, error: error.toJSON() });
      }
      throw error;
    }
  }
  return reports;
}
