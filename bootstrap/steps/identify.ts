// Step 1, identify: who and where this instance is (IMDSv2, or the host in local mode), and its codedetect:* tags for configuration.
import { createHash } from "node:crypto";
import os from "node:os";
import { z } from "zod";
import { readRecordFile } from "../record-file.ts";
import type { AgentAction } from "../../compose/actions.ts";
import { TAG_PREFIX, type Config } from "../config.ts";
import { StepError } from "../errors.ts";
import { createImdsClient, type ImdsResult } from "../adapters/imds.ts";
import type { Identity, Step } from "../step.ts";
import { stateFile } from "../state-files.ts";

export const IdentitySchema = z
  .object({
    instanceId: z.string().min(1),
    zone: z.string().min(1),
    region: z.string().min(1),
    source: z.enum(["imds", "host"]),
    /** The instance's codedetect:* tags, as read: configuration overrides. */
    tags: z.record(z.string(), z.string()),
  })
  .strict();

export type IdentifySeen = {
  recorded: RecordedIdentity | null;
  imds: ImdsResult;
  source: Identity["source"];
  tags: { state: "ok"; tags: Record<string, string> } | { state: "failed"; detail: string } | { state: "skipped" };
};

export type RecordedIdentity = z.infer<typeof IdentitySchema>;

export function readRecordedIdentity(stateDir: string): RecordedIdentity | null {
  return readRecordFile(stateFile(stateDir, "identity"), IdentitySchema, "remove it and re-run");
}

/** Only the tags meant for the agent, sorted, so that the record compares stably. */
export function codedetectTags(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([key]) => key.startsWith(TAG_PREFIX)).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** In local mode each state directory is its own instance. */
export function hostIdentity(stateDir: string): Identity {
  const digest = createHash("sha256").update(`${os.hostname()}:${stateDir}`).digest("hex").slice(0, 12);
  return { instanceId: `local-${digest}`, zone: "local", region: "local", source: "host" };
}

export const identify: Step<IdentifySeen> = {
  name: "identify",
  async observe(ctx) {
    const recorded = readRecordedIdentity(ctx.config.stateDir);
    if (ctx.config.mode === "local") {
      return { recorded, imds: { state: "ok", identity: hostIdentity(ctx.config.stateDir) }, source: "host", tags: { state: "skipped" } };
    }
    const imds = await createImdsClient(ctx.config.imdsEndpoint).identity();
    if (imds.state !== "ok") return { recorded, imds, source: "imds", tags: { state: "skipped" } };
    try {
      const aws = await ctx.aws(imds.identity.region);
      return { recorded, imds, source: "imds", tags: { state: "ok", tags: await aws.instanceTags(imds.identity.instanceId) } };
    } catch (error) {
      return { recorded, imds, source: "imds", tags: { state: "failed", detail: (error as Error).message } };
    }
  },
  learn(seen, ctx) {
    if (seen.imds.state !== "ok") return;
    ctx.identity = { ...seen.imds.identity, region: ctx.config.region ?? seen.imds.identity.region, source: seen.source };
    if (seen.tags.state === "ok") {
      ctx.tags = codedetectTags(seen.tags.tags);
      ctx.applyTags?.(ctx.tags);
    }
  },
  plan(seen, config: Config): AgentAction[] {
    if (seen.imds.state === "unreachable") {
      throw new StepError({
        step: "identify",
        action: "read instance identity from IMDSv2",
        cause: seen.imds.detail,
        next: `check that instance metadata is enabled (launch template MetadataOptions HttpEndpoint: enabled) and reachable at ${config.imdsEndpoint}; re-run \`npm run bootstrap\`, or use --local off EC2`,
      });
    }
    if (seen.imds.state === "refused") {
      throw new StepError({
        step: "identify",
        action: "read instance identity from IMDSv2",
        cause: seen.imds.detail,
        next: "the instance metadata service refused the token flow: check MetadataOptions (HttpTokens: required, HttpPutResponseHopLimit) in the launch template",
      });
    }
    if (seen.tags.state === "failed") {
      throw new StepError({
        step: "identify",
        action: `ec2:DescribeTags for ${seen.imds.identity.instanceId}`,
        cause: seen.tags.detail,
        // a timeout or a refused connection is the network's, not a permission's (adapters/sdk-client.ts words it so)
        next: /: (no connection to|no answer from|cannot reach) /.test(seen.tags.detail)
          ? "check this instance's route to the EC2 API (NAT gateway or VPC endpoint, security group egress on 443, awsEndpoint), then re-run `npm run bootstrap`"
          : "grant ec2:DescribeTags to the instance role (or check the region), then re-run `npm run bootstrap`",
      });
    }
    const tags = seen.tags.state === "ok" ? codedetectTags(seen.tags.tags) : {};
    const identity: RecordedIdentity = { ...seen.imds.identity, region: config.region ?? seen.imds.identity.region, source: seen.source, tags };
    const same = seen.recorded !== null && JSON.stringify(IdentitySchema.parse(seen.recorded)) === JSON.stringify(IdentitySchema.parse(identity));
    return same ? [] : [{ kind: "write", path: stateFile(config.stateDir, "identity"), content: `${JSON.stringify(identity)}\n`, mode: 0o644 }];
  },
};
