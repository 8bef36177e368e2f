// The #cloud-config user data: the agent's configuration, the launcher and the systemd units, built with `yaml` and size-checked.
import fs from "node:fs";
import path from "node:path";
import { stringify } from "yaml";
import { ConfigSchema, resolveConfig, STACK_NAME, type Config } from "../config.ts";
import { DRAIN_SECONDS, GROUP_NAME_SUFFIX, LAUNCH_HOOK_NAME, LIFECYCLE_HOOK_NAME, LONGEST_VALUES, SIGNALLED_RESOURCE, TERMINATION_HEARTBEAT_SECONDS, STACK_VALUE_NAMES, TEMPLATE_EXPRESSIONS, type StackValues } from "./values.ts";

/** EC2's limit on raw user data. */
export const USER_DATA_LIMIT_BYTES = 16_384;
export const AGENT_CONFIG_PATH = "/etc/codedetect/bootstrap.json";
export const LAUNCHER_ENV_PATH = "/etc/codedetect/launcher.env";
export const LAUNCHER_PATH = "/opt/codedetect/launcher.sh";
/** Where the agent bundle lands (copied out of the image by the launcher): bootstrap and supervise are both its commands. */
export const AGENT_BUNDLE = "/opt/codedetect/agent.mjs";
/** Amazon Linux 2023's nodejs24 package installs Node.js 24 under this name (beside the system's own node). */
export const NODE_BINARY = "/usr/bin/node-24";
/** The supervisor: the bundle's own `supervise` command, reading the same configuration, JSON lines for journald. */
export const SUPERVISE_COMMAND = [NODE_BINARY, AGENT_BUNDLE, "supervise", "--config", AGENT_CONFIG_PATH, "--json"];
export const LAUNCHER_SOURCE = path.join(import.meta.dirname, "launcher.sh");

export class UserDataProblem extends Error {
  override name = "UserDataProblem";
}

/**
 * The agent's configuration file: what the template knows, in settings ConfigSchema knows (strict); the rest is left to
 * the agent's defaults. The group's name is the stack's plus a fixed suffix (the template names the group so);
 * drainSeconds is the target group's deregistration delay.
 */
export function agentConfig(values: StackValues): Partial<Config> {
  return {
    mode: "aws",
    image: values.ImageUri,
    fileSystemId: values.FileSystemId,
    region: values.Region,
    stackName: values.StackName,
    logicalResourceId: SIGNALLED_RESOURCE,
    targetGroupArn: values.TargetGroupArn,
    logGroup: values.LogGroupName,
    autoScalingGroup: `${values.StackName}${GROUP_NAME_SUFFIX}`,
    lifecycleHook: LIFECYCLE_HOOK_NAME,
    launchHook: LAUNCH_HOOK_NAME,
    drainSeconds: DRAIN_SECONDS,
  };
}

/** Refuses values the agent would refuse: the file is parsed exactly as the agent parses it, then resolved. */
export function checkAgentConfig(values: StackValues): void {
  // The template's own value first, named as the template names it (the agent's schema would name its stackName).
  // Values are quoted as JSON in messages, so a value with a line break still gives one line.
  if (!STACK_NAME.test(values.StackName)) throw new UserDataProblem(`StackName: ${JSON.stringify(values.StackName)} is not a CloudFormation stack name`);
  const config = agentConfig(values);
  const parsed = ConfigSchema.partial().safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserDataProblem(`agent configuration: ${issue.path.join(".")}: ${issue.message}`);
  }
  try {
    resolveConfig(false, { file: parsed.data });
  } catch (error) {
    throw new UserDataProblem(`agent configuration: ${(error as Error).message}`);
  }
  if (!/^[\w./#-]{1,512}$/.test(values.LogGroupName)) throw new UserDataProblem(`LogGroupName: ${JSON.stringify(values.LogGroupName)} is not a log group name`);
  const targetGroup = TARGET_GROUP_ARN.exec(values.TargetGroupArn);
  if (!targetGroup) throw new UserDataProblem(`TargetGroupArn: ${JSON.stringify(values.TargetGroupArn)} is not a target group ARN (arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>)`);
  if (targetGroup[1] !== values.Region) throw new UserDataProblem(`TargetGroupArn: the target group is in ${targetGroup[1]}, not in Region ${values.Region} (the agent registers with it from its own region)`);
}

/** arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>; the region captured. */
const TARGET_GROUP_ARN = /^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;

const unit = (sections: Record<string, [string, string][]>): string =>
  Object.entries(sections)
    .map(([name, entries]) => `[${name}]\n${entries.map(([key, value]) => `${key}=${value}`).join("\n")}\n`)
    .join("\n");

const AGENT_UNIT = unit({
  Unit: [["Description", "CodeDetect launcher and bootstrap agent (OS packages, the image by digest, mount, layout, migrate, start)"], ["Wants", "network-online.target"], ["After", "network-online.target"]],
  Service: [["Type", "oneshot"], ["RemainAfterExit", "yes"], ["EnvironmentFile", LAUNCHER_ENV_PATH], ["ExecStart", LAUNCHER_PATH], ["TimeoutStartSec", "900"]],
  Install: [["WantedBy", "multi-user.target"]],
});

// Started once the agent's run has ended WHATEVER its outcome (Wants=, not Requires=: with Requires= a failed agent run — e.g. an
// instance launched after the stack settled, refused its signal — left the instance serving unsupervised: no drain, no lifecycle
// completion, no restart). Supervise finds nothing to watch until something was brought up, exits, and systemd tries again
// (Restart=always). Stopped before Docker and the network (After= orders the stop in reverse), SIGTERM to the agent alone
// (KillMode=mixed: its compose children are not killed under it), and time to deregister, drain and complete the termination hook.
const SUPERVISOR_UNIT = unit({
  Unit: [
    ["Description", "CodeDetect supervisor (health watch, drain on termination)"],
    ["Wants", "codedetect-agent.service"],
    ["After", "codedetect-agent.service docker.service network-online.target"],
  ],
  Service: [["ExecStart", SUPERVISE_COMMAND.join(" ")], ["Restart", "always"], ["RestartSec", "5"], ["KillMode", "mixed"], ["TimeoutStopSec", String(TERMINATION_HEARTBEAT_SECONDS)]],
  Install: [["WantedBy", "multi-user.target"]],
});

/** The document with each value inserted as given (literal values, or tokens the template replaces). */
function render(values: StackValues): string {
  // CODEDETECT_LAUNCHER_*: never an agent setting's variable (CODEDETECT_IMAGE would override the agent's instance tags).
  const launcherEnv = [
    `CODEDETECT_LAUNCHER_IMAGE=${values.ImageUri}`,
    `CODEDETECT_LAUNCHER_REGION=${values.Region}`,
    `CODEDETECT_LAUNCHER_STACK=${values.StackName}`,
    `CODEDETECT_LAUNCHER_LOGICAL_ID=${SIGNALLED_RESOURCE}`,
    `CODEDETECT_LAUNCHER_CONFIG_FILE=${AGENT_CONFIG_PATH}`,
    `CODEDETECT_LAUNCHER_NODE=${NODE_BINARY}`,
  ].join("\n");
  const file = (filePath: string, content: string, permissions: string) => ({ path: filePath, owner: "root:root", permissions, content: content.endsWith("\n") ? content : `${content}\n` });
  const document = {
    // No package update at boot (defect 9): instances differ only by the AMI the stack resolved and the image digest.
    package_update: false,
    package_upgrade: false,
    write_files: [
      file(AGENT_CONFIG_PATH, JSON.stringify(agentConfig(values), null, 2), "0644"),
      file(LAUNCHER_ENV_PATH, launcherEnv, "0644"),
      file(LAUNCHER_PATH, fs.readFileSync(LAUNCHER_SOURCE, "utf8"), "0755"),
      file("/etc/systemd/system/codedetect-agent.service", AGENT_UNIT, "0644"),
      file("/etc/systemd/system/codedetect-supervisor.service", SUPERVISOR_UNIT, "0644"),
    ],
    runcmd: [
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "codedetect-agent.service", "codedetect-supervisor.service"],
      ["systemctl", "start", "--no-block", "codedetect-agent.service", "codedetect-supervisor.service"],
    ],
  };
  return `#cloud-config\n${stringify(document, { version: "1.1", lineWidth: 0, blockQuote: "literal" })}`;
}

export interface UserData {
  text: string;
  bytes: number;
}

function sized(text: string, what: string): UserData {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > USER_DATA_LIMIT_BYTES) throw new UserDataProblem(`${what} is ${bytes} bytes, over EC2's limit of ${USER_DATA_LIMIT_BYTES}`);
  return { text, bytes };
}

/** The user data for these concrete values (`npm run user-data`, the tests). */
export function userData(values: StackValues): UserData {
  checkAgentConfig(values);
  return sized(render(values), "the user data");
}

const token = (name: string) => `CODEDETECTVALUE${name.toUpperCase()}END`;

/** The user data as the template's Fn::Sub text: literal ${ escaped as ${!, values as expressions; size checked with the longest values. */
export function userDataForTemplate(): { subText: string; worstCaseBytes: number } {
  checkAgentConfig(LONGEST_VALUES);
  const tokens = Object.fromEntries(STACK_VALUE_NAMES.map((name) => [name, token(name)])) as StackValues;
  const text = render(tokens);
  const worst = sized(STACK_VALUE_NAMES.reduce((acc, name) => acc.replaceAll(tokens[name], LONGEST_VALUES[name]), text), "the user data with the longest stack values");
  const escaped = text.replaceAll("${", "${!");
  const subText = STACK_VALUE_NAMES.reduce((acc, name) => acc.replaceAll(tokens[name], TEMPLATE_EXPRESSIONS[name]), escaped);
  return { subText, worstCaseBytes: worst.bytes };
}
