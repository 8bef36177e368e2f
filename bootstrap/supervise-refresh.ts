// Supervise's refresh-database action: the database step's observe/plan/perform run again, so database.env holds the secret's current password (RDS rotates it) before the container is recreated.
import type { AwsAdapter } from "./adapters/aws.ts";
import type { Config } from "./config.ts";
import type { AgentExecutor } from "./executor.ts";
import type { Output } from "./output.ts";
import { runSteps, type Context } from "./step.ts";
import { databaseStep } from "./steps/database.ts";
import type { RecordedIdentity } from "./steps/identify.ts";

/** The step context supervise runs the database step in: the configuration and identity bootstrap recorded. */
export function refreshContext(config: Config, identity: RecordedIdentity | null, aws: () => Promise<AwsAdapter>, out: Output): Context {
  return {
    config,
    identity: identity ? { instanceId: identity.instanceId, zone: identity.zone, region: identity.region, source: identity.source } : null,
    tags: identity?.tags ?? {},
    aws,
    out,
  };
}

/** For the periodic check: "database: unchanged" every few minutes is noise in the journal; a change or a failure is still logged. */
export function quietUnlessChanged(out: Output): Output {
  return { ...out, stepFinished: (report) => (report.outcome === "unchanged" ? undefined : out.stepFinished(report)) };
}

/** Returns "rewritten" when the step changed a file (the env file after a rotation, or a CA bundle no longer the pinned one), "unchanged" when it already held the current secret. Throws when the secret cannot be read; the env file is then left as it was. */
export async function refreshDatabase(ctx: Context, executor: AgentExecutor): Promise<"rewritten" | "unchanged"> {
  const [report] = await runSteps([databaseStep], ctx, executor);
  return report?.outcome === "done" ? "rewritten" : "unchanged";
}
