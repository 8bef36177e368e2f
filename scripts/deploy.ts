// `npm run deploy -- --stack NAME --image REPOSITORY[:TAG]@sha256:…`: creates or updates the stack, streams its events, prints outputs, or the failed resources and exits 1.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  UpdateStackCommand,
  type Stack,
} from "@aws-sdk/client-cloudformation";
import { parse } from "yaml";
import { describeSdkError, endpointOf, sdkClientConfig } from "../bootstrap/adapters/sdk-client.ts";
import { describeApiError, failedResources, formatEvent, isSettled, parseDeployArgs, planDeploy, SUCCESS_STATUSES, UsageProblem, USAGE, type DeployTemplate, type StackEvent } from "./aws/deploy-plan.ts";

const DEFAULT_TEMPLATE = path.resolve(import.meta.dirname, "../cloudformation/codedetect.yaml");
/** CloudFormation's limit for a template passed inline (larger ones go through S3, which this command does not do). */
const TEMPLATE_BODY_LIMIT = 51_200;
const out = (line: string): void => void process.stdout.write(`${line}\n`);
const fail = (line: string): void => void process.stderr.write(`deploy: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Named in the line printed when CloudFormation cannot be reached. */
let cloudFormationEndpoint = "CloudFormation";

async function describe(client: CloudFormationClient, stack: string): Promise<Stack | null> {
  try {
    return (await client.send(new DescribeStacksCommand({ StackName: stack }))).Stacks?.[0] ?? null;
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) return null;
    throw error;
  }
}

async function events(client: CloudFormationClient, stack: string): Promise<StackEvent[]> {
  return (await client.send(new DescribeStackEventsCommand({ StackName: stack }))).StackEvents ?? [];
}

function printOutputs(stack: Stack | null): void {
  const outputs = stack?.Outputs ?? [];
  if (outputs.length === 0) return out("outputs: (none reported)");
  const width = Math.max(...outputs.map((o) => (o.OutputKey ?? "").length));
  out("outputs:");
  for (const output of outputs) out(`  ${(output.OutputKey ?? "").padEnd(width)}  ${output.OutputValue ?? ""}`);
}

function printFailures(list: StackEvent[]): void {
  const failures = failedResources(list);
  if (failures.length === 0) return fail("no resource reported a failure (see the stack's events)");
  fail("failed resources:");
  for (const failure of failures) process.stderr.write(`  ${failure.resource}: ${failure.status}: ${failure.reason}\n`);
}

async function main(): Promise<number> {
  let args;
  let templateBody: string;
  let template: DeployTemplate;
  try {
    args = parseDeployArgs(process.argv.slice(2), process.env, DEFAULT_TEMPLATE);
    try {
      templateBody = fs.readFileSync(args.template, "utf8");
    } catch (error) {
      throw new UsageProblem(`cannot read the template ${args.template}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (Buffer.byteLength(templateBody) > TEMPLATE_BODY_LIMIT) throw new UsageProblem(`the template is ${Buffer.byteLength(templateBody)} bytes, over CloudFormation's inline limit of ${TEMPLATE_BODY_LIMIT}`);
    const parsed = parse(templateBody) as { Parameters?: DeployTemplate["parameters"]; Rules?: DeployTemplate["rules"] };
    template = { parameters: parsed.Parameters ?? {}, rules: parsed.Rules ?? {} };
  } catch (error) {
    if (!(error instanceof UsageProblem)) throw error;
    fail(`${error.message}; ${USAGE}`);
    return 2;
  }
  cloudFormationEndpoint = endpointOf("cloudformation", args);
  const client = new CloudFormationClient(sdkClientConfig({ region: args.region, endpoint: args.endpoint, maxAttempts: 5 }));
  const existing = await describe(client, args.stack);
  if (existing && /_IN_PROGRESS$/.test(existing.StackStatus ?? "")) {
    fail(`stack ${args.stack} is busy (${existing.StackStatus}); wait for it to settle, then deploy again`);
    return 1;
  }
  if (existing?.StackStatus === "ROLLBACK_COMPLETE") {
    fail(`stack ${args.stack} failed to create and was rolled back; delete it (aws cloudformation delete-stack --stack-name ${args.stack}) and deploy again`);
    return 1;
  }
  let plan;
  try {
    plan = planDeploy(args, template, existing ? { previous: Object.fromEntries((existing.Parameters ?? []).map((p) => [p.ParameterKey ?? "", p.ParameterValue ?? ""])) } : null);
  } catch (error) {
    if (!(error instanceof UsageProblem)) throw error;
    fail(`${error.message}; ${USAGE}`);
    return 2;
  }
  const seen = new Set((existing ? await events(client, args.stack) : []).map((event) => event.EventId));
  out(`${plan.kind === "create" ? "creating" : "updating"} stack ${args.stack} in ${args.region} with ${args.image}`);
  // One token for this operation: the SDK's retries after a 5xx cannot start it twice.
  const request = { StackName: plan.stack, TemplateBody: templateBody, Parameters: plan.parameters, Capabilities: ["CAPABILITY_IAM" as const], ClientRequestToken: `deploy-${randomUUID()}` };
  try {
    if (plan.kind === "create") await client.send(new CreateStackCommand({ ...request, OnFailure: "ROLLBACK" }));
    else await client.send(new UpdateStackCommand(request));
  } catch (error) {
    const message = (error as Error).message;
    if (plan.kind === "update" && /No updates are to be performed/.test(message)) {
      out("no changes: the stack already runs this image with these parameters");
      printOutputs(existing);
      return 0;
    }
    fail(`${plan.kind} failed: ${describeApiError(error)}`);
    const list = await events(client, args.stack).catch(() => []);
    printFailures(list.filter((event) => !seen.has(event.EventId)));
    return 1;
  }
  const deadline = Date.now() + args.timeoutMinutes * 60_000;
  const fresh: StackEvent[] = [];
  for (;;) {
    const list = await events(client, args.stack);
    const unseen = list.filter((event) => !seen.has(event.EventId)).reverse();
    for (const event of unseen) {
      seen.add(event.EventId);
      fresh.push(event);
      out(formatEvent(event));
    }
    const stack = await describe(client, args.stack);
    const status = stack?.StackStatus ?? "DELETED";
    if (isSettled(status) || status === "DELETED") {
      if (SUCCESS_STATUSES.has(status)) {
        out(`${args.stack}: ${status}`);
        printOutputs(stack);
        return 0;
      }
      fail(`${args.stack}: ${status}${stack?.StackStatusReason ? ` (${stack.StackStatusReason})` : ""}`);
      printFailures([...fresh].reverse());
      return 1;
    }
    if (Date.now() > deadline) {
      fail(`${args.stack} still ${status} after ${args.timeoutMinutes} min; it continues in CloudFormation (deploy again to follow it once settled)`);
      return 1;
    }
    await sleep(args.pollSeconds * 1000);
  }
}

process.on("SIGINT", () => {
  fail("interrupted: the stack operation continues in CloudFormation; follow it in the console or with aws cloudformation describe-stack-events");
  process.exit(130);
});

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    // a timeout or a refused connection names the endpoint (sdk-client.ts); an answer of the service is its own line
    const line = describeSdkError(error, cloudFormationEndpoint);
    fail(/^(no connection to|no answer from|cannot reach) /.test(line) ? `CloudFormation: ${line} (check --region, --endpoint and the network)` : line);
    process.exitCode = 1;
  },
);
