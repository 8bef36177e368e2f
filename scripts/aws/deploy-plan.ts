// Pure parts of `npm run deploy`: the invocation validated, create-or-update decided as data, stack events read into progress lines and failures.
import { parseArgs } from "node:util";
import { REGION } from "../../bootstrap/config.ts";
import { PROTOCOL_RULES } from "../../cloudformation/template/parameters.ts";
import { IMAGE_PATTERN } from "../../cloudformation/template/settings.ts";
import { brokenRule, type TemplateRule } from "./template-rules.ts";

export const USAGE = "usage: npm run deploy -- --stack NAME --image REPOSITORY[:TAG]@sha256:DIGEST [--parameter KEY=VALUE ...] [--region REGION] [--endpoint URL] [--template FILE] [--poll-seconds N] [--timeout-minutes N]";

export class UsageProblem extends Error {
  override name = "UsageProblem";
}

export interface DeployArgs {
  stack: string;
  image: string;
  parameters: Record<string, string>;
  region: string;
  endpoint: string | null;
  template: string;
  pollSeconds: number;
  timeoutMinutes: number;
}

const positiveInteger = (flag: string, raw: string | undefined, fallback: number, max: number): number => {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) throw new UsageProblem(`--${flag} must be a whole number from 1 to ${max}, got "${raw}"`);
  return Number(raw);
};

export function parseDeployArgs(argv: string[], env: NodeJS.ProcessEnv, defaultTemplate: string): DeployArgs {
  let values;
  let tokens;
  try {
    ({ values, tokens } = parseArgs({
      args: argv,
      strict: true,
      tokens: true,
      options: {
        stack: { type: "string" },
        image: { type: "string" },
        parameter: { type: "string", multiple: true },
        region: { type: "string" },
        endpoint: { type: "string" },
        template: { type: "string" },
        "poll-seconds": { type: "string" },
        "timeout-minutes": { type: "string" },
      },
    }));
  } catch (error) {
    throw new UsageProblem((error as Error).message);
  }
  // A flag given twice (say two --stack) would otherwise silently take the last: refuse rather than deploy the wrong stack.
  const named = tokens.filter((token) => token.kind === "option" && token.name !== "parameter").map((token) => (token as { name: string }).name);
  const twice = named.find((name, index) => named.indexOf(name) !== index);
  if (twice) throw new UsageProblem(`--${twice} given twice`);
  if (!values.stack) throw new UsageProblem("--stack is required");
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(values.stack)) throw new UsageProblem(`--stack "${values.stack}" is not a stack name (a letter, then letters, digits and hyphens, at most 128)`);
  if (!values.image) throw new UsageProblem("--image is required (repository[:tag]@sha256:<digest>, e.g. from docker push)");
  if (!new RegExp(IMAGE_PATTERN).test(values.image)) throw new UsageProblem(`--image "${values.image}" is not repository[:tag]@sha256:<64 hex digits>; deploy by digest, never by a moving tag`);
  const parameters: Record<string, string> = {};
  for (const pair of values.parameter ?? []) {
    const match = /^([A-Za-z0-9]+)=(.*)$/s.exec(pair);
    if (!match) throw new UsageProblem(`--parameter "${pair}" is not KEY=VALUE`);
    if (match[1] === "ImageUri") throw new UsageProblem("give the image with --image, not --parameter ImageUri=…");
    if (match[1]! in parameters) throw new UsageProblem(`--parameter ${match[1]} given twice`);
    parameters[match[1]!] = match[2]!;
  }
  const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new UsageProblem("no region: pass --region or set AWS_REGION");
  if (!REGION.test(region)) throw new UsageProblem(`region "${region}"${values.region === undefined ? " (from the environment)" : ""} is not an AWS region name like "eu-west-1"`);
  if (values.endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(values.endpoint)) throw new UsageProblem(`--endpoint "${values.endpoint}" is not an http(s) URL`);
  return {
    stack: values.stack,
    image: values.image,
    parameters,
    region,
    endpoint: values.endpoint ?? null,
    template: values.template ?? defaultTemplate,
    pollSeconds: positiveInteger("poll-seconds", values["poll-seconds"], 5, 300),
    timeoutMinutes: positiveInteger("timeout-minutes", values["timeout-minutes"], 90, 720),
  };
}

export interface StackParameter {
  ParameterKey: string;
  ParameterValue?: string;
  UsePreviousValue?: boolean;
}

export type DeployPlan =
  | { kind: "create"; stack: string; parameters: StackParameter[] }
  | { kind: "update"; stack: string; parameters: StackParameter[] };

export interface TemplateParameter {
  Default?: unknown;
  Type?: string;
  AllowedValues?: unknown[];
}

export interface DeployTemplate {
  parameters: Record<string, TemplateParameter>;
  /** The template's Rules: checked here on the values the deploy would send, before CloudFormation is asked. */
  rules?: Record<string, TemplateRule>;
}

const choices = (parameter: TemplateParameter) => (parameter.AllowedValues ? ` (one of ${parameter.AllowedValues.join(", ")})` : "");

/** The group's sizes as Auto Scaling and a rolling update need them; Rules cannot compare numbers, so this does. */
function sizeProblem(values: Record<string, string | undefined>): string | null {
  const [min, desired, max] = ["MinSize", "DesiredCapacity", "MaxSize"].map((key) => (values[key] === undefined ? NaN : Number(values[key])));
  if (Number.isNaN(min!) || Number.isNaN(max!)) return null;
  if (!(max! > min!)) return `MaxSize ${max} with MinSize ${min}: ${PROTOCOL_RULES.sizes}`;
  if (!Number.isNaN(desired!) && (desired! < min! || desired! > max!)) return `DesiredCapacity ${desired} is outside MinSize ${min} to MaxSize ${max}`;
  return null;
}

/** Refuses what CloudFormation or Auto Scaling would refuse only after the operation started: one line, before any change. */
function checkValues(template: DeployTemplate, values: Record<string, string | undefined>): void {
  const problem = brokenRule(template.rules ?? {}, values) ?? sizeProblem(values);
  if (problem) throw new UsageProblem(problem);
}

/**
 * Create when the stack does not exist; otherwise update, keeping every previous value not given now.
 * Refuses parameters the template does not declare, a create missing a required one (no default), an update missing
 * one the stack never had (a parameter new in this template), and values the template's rules refuse.
 */
export function planDeploy(args: DeployArgs, template: DeployTemplate, existing: { previous: Record<string, string> } | null): DeployPlan {
  const declared = Object.keys(template.parameters);
  for (const key of Object.keys(args.parameters)) if (!declared.includes(key)) throw new UsageProblem(`--parameter ${key}: the template has no such parameter (it has ${declared.join(", ")})`);
  for (const [key, value] of Object.entries(args.parameters)) {
    const allowed = template.parameters[key]!.AllowedValues?.map(String);
    if (allowed && !allowed.includes(value)) throw new UsageProblem(`--parameter ${key}=${value}: not one of ${allowed.join(", ")}`);
  }
  const given: Record<string, string> = { ...args.parameters, ImageUri: args.image };
  const defaults = Object.fromEntries(declared.flatMap((key) => (template.parameters[key]!.Default === undefined ? [] : [[key, String(template.parameters[key]!.Default)]])));
  if (!existing) {
    const missing = declared.filter((key) => !(key in given) && template.parameters[key]!.Default === undefined);
    if (missing.length) throw new UsageProblem(`a new stack needs ${missing.map((key) => `--parameter ${key}=…${choices(template.parameters[key]!)}`).join(", ")}`);
    checkValues(template, { ...defaults, ...given });
    return { kind: "create", stack: args.stack, parameters: Object.entries(given).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })) };
  }
  const values: Record<string, string | undefined> = { ...defaults };
  // Previous values are passed as values (the template has no NoEcho parameter; a masked one keeps UsePreviousValue),
  // which also suits moto, whose UsePreviousValue fails for a parameter that was left at its default.
  const parameters: StackParameter[] = declared.flatMap((key): StackParameter[] => {
    if (key in given) {
      values[key] = given[key];
      return [{ ParameterKey: key, ParameterValue: given[key]! }];
    }
    const previous = existing.previous[key];
    if (previous === undefined) {
      if (template.parameters[key]!.Default === undefined) throw new UsageProblem(`stack ${args.stack} has no value for ${key}, which this template requires: give --parameter ${key}=…${choices(template.parameters[key]!)}`);
      return [];
    }
    // An SSM-typed parameter's value is a parameter name ("/aws/service/…"); an emulator may report the resolved AMI instead, which is no valid value: the template's default applies.
    if (template.parameters[key]!.Type?.startsWith("AWS::SSM::Parameter::Value") && !previous.startsWith("/")) return [];
    if (previous === "****") {
      values[key] = undefined;
      return [{ ParameterKey: key, UsePreviousValue: true }];
    }
    values[key] = previous;
    return [{ ParameterKey: key, ParameterValue: previous }];
  });
  checkValues(template, values);
  return { kind: "update", stack: args.stack, parameters };
}

export interface StackEvent {
  EventId?: string;
  Timestamp?: Date;
  LogicalResourceId?: string;
  ResourceType?: string;
  ResourceStatus?: string;
  ResourceStatusReason?: string;
}

export function formatEvent(event: StackEvent): string {
  const time = event.Timestamp ? event.Timestamp.toISOString().slice(11, 19) : "--:--:--";
  const reason = event.ResourceStatusReason ? `  ${event.ResourceStatusReason}` : "";
  return `${time}  ${(event.ResourceStatus ?? "?").padEnd(20)}  ${event.LogicalResourceId ?? "?"} (${event.ResourceType ?? "?"})${reason}`;
}

/** The resources that failed in this operation, oldest first, each with its reason (CloudFormation lists events newest first). */
export function failedResources(events: StackEvent[]): { resource: string; status: string; reason: string }[] {
  return events
    .filter((event) => event.ResourceStatus?.endsWith("_FAILED") && event.ResourceType !== "AWS::CloudFormation::Stack")
    .reverse()
    .map((event) => ({ resource: `${event.LogicalResourceId} (${event.ResourceType})`, status: event.ResourceStatus!, reason: event.ResourceStatusReason ?? "no reason given" }));
}

export const SUCCESS_STATUSES = new Set(["CREATE_COMPLETE", "UPDATE_COMPLETE"]);
/** A stack status after which nothing more will happen without a new operation. */
export function isSettled(status: string): boolean {
  return /_COMPLETE$|_FAILED$/.test(status) && !status.endsWith("_CLEANUP_IN_PROGRESS");
}

/** One line for an API error; when the SDK could not parse the answer (a proxy, an emulator), the answer's own message. */
export function describeApiError(error: unknown): string {
  const body = (error as { $responseBodyText?: string }).$responseBodyText;
  let detail = "";
  if (body) {
    try {
      const parsed = JSON.parse(body) as { message?: string; Message?: string; __type?: string };
      detail = [parsed.__type, parsed.message ?? parsed.Message].filter(Boolean).join(": ");
    } catch {
      detail = body.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(0, 200);
    }
  }
  const message = (error as Error).message?.split("\n")[0] ?? String(error);
  return detail ? `${message} (the service answered: ${detail})` : message;
}
