// `npm run ha -- --only signal-window,replacement,supervisor-restart`: one fleet through the AWS twin for the selected scenarios, and their table.
import fs from "node:fs";
import os from "node:os";
import { HEALTH_CHECK_GRACE_SECONDS, HEALTH_INTERVAL_SECONDS, HEALTHY_THRESHOLD, UNHEALTHY_THRESHOLD, DRAIN_SECONDS, TERMINATION_HEARTBEAT_SECONDS } from "../../cloudformation/template/settings.ts";
import { buildPinnedImage, startAwsFleet, supervisorNeedsAgentSuccess, type AwsFleet } from "./aws-fleet.ts";
import { replacement, settleCreate, signalWindow, supervisorRestart, type AwsScenarioResult } from "./aws-scenarios.ts";

export const AWS_SCENARIOS = ["signal-window", "replacement", "supervisor-restart"] as const;

export interface AwsRunOptions {
  root: string;
  prefix: string;
  wanted: string[];
  timeScale: number;
  quick: boolean;
  keep: boolean;
  log: (line: string) => void;
  /** Told how to remove the fleet (an interrupted run removes it). */
  onFleet?: (stop: () => Promise<void>) => void;
}

export async function runAwsScenarios(options: AwsRunOptions): Promise<{ results: AwsScenarioResult[]; lines: string[]; failed: boolean }> {
  const { log } = options;
  const results: AwsScenarioResult[] = [];
  let fleet: AwsFleet | null = null;
  let failed = false;
  let create: Awaited<ReturnType<typeof settleCreate>> | null = null;
  const load = { connections: options.quick ? 3 : 4, maxSeconds: 900, mix: "mixed" as const };
  try {
    // CDHA_IMAGE: an image pinned by digest and present in the engine (e.g. from an earlier run's log), to skip the build.
    const image = process.env.CDHA_IMAGE || (log(`AWS twin fleet under ${options.root} (time ×${options.timeScale}); building or reusing the image`), await buildPinnedImage(options.root));
    log(`image ${image}`);
    fleet = await startAwsFleet({ root: options.root, prefix: options.prefix, image, size: 2, timeScale: options.timeScale, log });
    const started = fleet;
    options.onFleet?.(() => started.stop());
    create = await settleCreate(fleet);
    log(`stack ${create.status} in ${create.seconds.toFixed(0)} s with ${create.signalsAccepted} signals`);
    if (create.status !== "CREATE_COMPLETE") throw new Error(`the stack's create did not complete: ${create.status} (${fleet.stack.statusReason}); see ${options.root}`);
    if (options.wanted.includes("signal-window")) {
      log("scenario signal-window: scale-out after the stack settled");
      results.push(await signalWindow(fleet, load));
    }
    if (options.wanted.includes("replacement")) {
      log("scenario replacement: an instance dies, the group replaces it");
      results.push(await replacement(fleet, load, options.timeScale));
    }
    if (options.wanted.includes("supervisor-restart")) {
      log("scenario supervisor-restart: systemctl restart of one supervisor under load");
      results.push(await supervisorRestart(fleet, load));
    }
  } catch (error) {
    console.error(`ha: ${(error as Error).stack ?? error}`);
    failed = true;
  } finally {
    await fleet?.stop();
    if (!options.keep) fs.rmSync(options.root, { recursive: true, force: true });
    else log(`kept ${options.root} (each instance's agent.log, supervise.log, state; twin-events.log)`);
  }
  const s = options.timeScale;
  const lines = [
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, node ${process.version}. Real agents in AWS mode (\`bootstrap/cli.ts --config\`, then \`supervise\` as the supervisor unit's [Unit] section allows: ${supervisorNeedsAgentSuccess() ? "Requires= the agent's unit" : "Wants= the agent's unit"}) against the AWS twin (test/twin: CloudFormation, Auto Scaling, ELBv2, EC2 tags, EFS, an IMDSv2 per instance) and its ALB data plane; the shared directory bind-mounted by a \`mount\` stand-in (no NFS here). The template's figures on the twin's clock ×${s}: grace ${HEALTH_CHECK_GRACE_SECONDS} s → ${(HEALTH_CHECK_GRACE_SECONDS * s).toFixed(0)} s, health check ${HEALTH_INTERVAL_SECONDS} s / ${HEALTHY_THRESHOLD} / ${UNHEALTHY_THRESHOLD} → ${(HEALTH_INTERVAL_SECONDS * s).toFixed(1)} s, deregistration delay ${DRAIN_SECONDS} s → ${(DRAIN_SECONDS * s).toFixed(0)} s, termination hook heartbeat ${TERMINATION_HEARTBEAT_SECONDS} s → ${(TERMINATION_HEARTBEAT_SECONDS * s).toFixed(0)} s; CreationPolicy 2 signals, PT15M. Load: autocannon through the ALB twin.${create ? ` Create: ${create.status} in ${create.seconds.toFixed(0)} s, ${create.signalsAccepted} signals accepted.` : ""}`,
    "",
    "| scenario | duration | requests | failed | failed after detection | lost | figures | target | met |",
    "|---|---|---|---|---|---|---|---|---|",
    ...results.map((r) => `| ${r.name} | ${r.seconds.toFixed(0)} s | ${r.sent} | ${r.failed} | ${r.failedAfterDetection} | ${r.lost} | ${r.figures.join("; ")} | ${r.target} | ${r.met ? "yes" : "**no**"} |`),
    "",
    ...results.map((r) => `- ${r.name}: ${r.notes.join("; ")}`),
    "",
  ];
  return { results, lines, failed: failed || results.some((r) => !r.met) || results.length < options.wanted.length };
}
