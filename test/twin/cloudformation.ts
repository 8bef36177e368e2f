// The twin's CloudFormation: a stack that owns an Auto Scaling group and waits for resource signals (CreationPolicy on create, WaitOnResourceSignals in a rolling update); signals at any other time are refused as AWS refuses them.
import type { AutoScaling, GroupOptions } from "./autoscaling.ts";
import { AwsError, type Clock, type QueryParams, type TwinEvent, type XmlValue } from "./wire.ts";

export type StackStatus = "CREATE_IN_PROGRESS" | "CREATE_COMPLETE" | "ROLLBACK_IN_PROGRESS" | "ROLLBACK_COMPLETE" | "UPDATE_IN_PROGRESS" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_IN_PROGRESS" | "UPDATE_ROLLBACK_COMPLETE";

/** The window in which signals count: the resource waits for `count` SUCCESS signals (distinct UniqueIds) before `deadline`. */
interface SignalWindow {
  count: number;
  successes: Set<string>;
  timer: NodeJS.Timeout;
  done: (outcome: "success" | "failure", reason: string) => void;
}

export interface Stack {
  name: string;
  id: string;
  status: StackStatus;
  statusReason: string | null;
  logicalResourceId: string;
  groupName: string;
  window: SignalWindow | null;
  /** Every signal that reached the stack, accepted or refused (figures, tests). */
  signals: { uniqueId: string; status: string; accepted: boolean; at: number }[];
  settled: Promise<StackStatus>;
}

export interface CreateStackOptions {
  name: string;
  /** The group resource's logical ID (the one the agent signals). */
  logicalResourceId: string;
  group: GroupOptions;
  /** CreationPolicy.ResourceSignal: Count (default 1) and Timeout in seconds (AWS default PT5M; at most PT12H). */
  signalCount?: number;
  signalTimeoutSeconds?: number;
}

/** CreationPolicy ResourceSignal Timeout defaults to PT5M (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-creationpolicy.html). */
export const AWS_DEFAULT_SIGNAL_TIMEOUT_SECONDS = 300;

export interface CloudFormationDeps {
  clock: Clock;
  region: string;
  account: string;
  autoscaling: AutoScaling;
  log: (event: Omit<TwinEvent, "at">) => void;
}

const STACK_NAME_PATTERN = "([a-zA-Z][-a-zA-Z0-9]*)|(arn:\\b(aws|aws-us-gov|aws-cn)\\b:[-a-zA-Z0-9:/._+]*)";
const STACK_NAME = new RegExp(`^(?:${STACK_NAME_PATTERN})$`);

export function createCloudFormation(deps: CloudFormationDeps) {
  const { clock, autoscaling } = deps;
  const stacks = new Map<string, Stack>();

  function stackOf(name: string): Stack {
    // StackName: "Length Constraints: Minimum length of 1. Pattern: ([a-zA-Z][-a-zA-Z0-9]*)|(arn:\b(aws|aws-us-gov|aws-cn)\b:[-a-zA-Z0-9:/._+]*)"
    // (API_SignalResource.html, Request Parameters): a name outside it (a stackName tag "my_stack", one with a space) is refused by
    // the request's validation before any stack is looked up, in the query protocol's own wording.
    if (!STACK_NAME.test(name)) throw new AwsError("ValidationError", `1 validation error detected: Value '${name}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${STACK_NAME_PATTERN}`);
    const found = stacks.get(name) ?? [...stacks.values()].find((s) => s.id === name);
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/CommonErrors.html — the answer for an unknown stack.
    if (!found) throw new AwsError("ValidationError", `Stack with id ${name} does not exist`);
    return found;
  }

  function openWindow(stack: Stack, count: number, timeoutSeconds: number, onDone: (outcome: "success" | "failure", reason: string) => void): void {
    const timer = clock.after(timeoutSeconds, () => close("failure", `Failed to receive ${count} resource signal(s) within the specified duration`));
    const window: SignalWindow = { count, successes: new Set(), timer, done: (outcome, reason) => close(outcome, reason) };
    stack.window = window;
    function close(outcome: "success" | "failure", reason: string): void {
      if (stack.window !== window) return;
      clock.cancel(window.timer);
      stack.window = null;
      onDone(outcome, reason);
    }
  }

  function finish(stack: Stack, status: StackStatus, reason: string | null, resolve: (s: StackStatus) => void): void {
    stack.status = status;
    stack.statusReason = reason;
    deps.log({ resource: `stack/${stack.name}`, what: `${status}${reason ? `: ${reason}` : ""}` });
    resolve(status);
  }

  return {
    stacks,
    /**
     * CREATE_IN_PROGRESS: the group launches its instances and the stack waits for `signalCount` SUCCESS signals within the timeout
     * (CreationPolicy). FAILURE, or the timeout, fails the create: ROLLBACK (the group and its instances are deleted), ROLLBACK_COMPLETE.
     */
    createStack(options: CreateStackOptions): Stack {
      if (stacks.has(options.name)) throw new AwsError("AlreadyExistsException", `Stack [${options.name}] already exists`);
      let resolve: (status: StackStatus) => void = () => {};
      const stack: Stack = {
        name: options.name,
        id: `arn:aws:cloudformation:${deps.region}:${deps.account}:stack/${options.name}/${crypto.randomUUID()}`,
        status: "CREATE_IN_PROGRESS",
        statusReason: null,
        logicalResourceId: options.logicalResourceId,
        groupName: options.group.name,
        window: null,
        signals: [],
        settled: new Promise((r) => (resolve = r)),
      };
      stacks.set(stack.name, stack);
      deps.log({ resource: `stack/${stack.name}`, what: "CREATE_IN_PROGRESS" });
      const tags = { "aws:cloudformation:stack-name": stack.name, "aws:cloudformation:stack-id": stack.id, "aws:cloudformation:logical-id": options.logicalResourceId, ...options.group.tags };
      openWindow(stack, options.signalCount ?? 1, options.signalTimeoutSeconds ?? AWS_DEFAULT_SIGNAL_TIMEOUT_SECONDS, (outcome, reason) => {
        autoscaling.setLaunchCause(options.group.name, "launched by the group after the stack settled");
        if (outcome === "success") return finish(stack, "CREATE_COMPLETE", null, resolve);
        stack.status = "ROLLBACK_IN_PROGRESS";
        deps.log({ resource: `stack/${stack.name}`, what: `ROLLBACK_IN_PROGRESS: ${reason}` });
        const g = autoscaling.groups.get(options.group.name)!;
        g.min = 0;
        autoscaling.setDesired(g.name, 0);
        finish(stack, "ROLLBACK_COMPLETE", reason, resolve);
      });
      autoscaling.createGroup({ ...options.group, tags }, `launched by the stack's create (${stack.name})`);
      return stack;
    },
    /**
     * A rolling update with WaitOnResourceSignals (UpdatePolicy AutoScalingRollingUpdate, aws-attribute-updatepolicy.html): each batch of
     * `maxBatchSize` new instances must signal SUCCESS within `pauseTimeSeconds`, then as many old instances are terminated. FAILURE or
     * a timeout rolls the update back (the new instances terminated): UPDATE_ROLLBACK_COMPLETE. Simplified: MinInstancesInService is 0
     * capacity-wise (new instances launch beside the old, the group grows by a batch) — judgement.
     */
    rollingUpdate(name: string, options: { tags?: Record<string, string>; maxBatchSize?: number; pauseTimeSeconds?: number }): Promise<StackStatus> {
      const stack = stackOf(name);
      if (stack.status !== "CREATE_COMPLETE" && stack.status !== "UPDATE_COMPLETE" && stack.status !== "UPDATE_ROLLBACK_COMPLETE") throw new AwsError("ValidationError", `Stack:${stack.id} is in ${stack.status} state and can not be updated.`);
      const g = autoscaling.groups.get(stack.groupName)!;
      let resolve: (status: StackStatus) => void = () => {};
      stack.settled = new Promise((r) => (resolve = r));
      stack.status = "UPDATE_IN_PROGRESS";
      deps.log({ resource: `stack/${stack.name}`, what: "UPDATE_IN_PROGRESS (rolling update)" });
      const old = [...g.instances].filter((id) => autoscaling.instances.get(id)!.lifecycleState === "InService");
      const batch = options.maxBatchSize ?? 1;
      g.tags = { ...g.tags, ...options.tags };
      const launchedNew: string[] = [];
      const stop = autoscaling.onChange((instance) => {
        if (instance.group === g.name && instance.lifecycleState === "Pending" && !old.includes(instance.id)) launchedNew.push(instance.id);
      });
      const step = (index: number) => {
        if (index >= old.length) {
          stop();
          return finish(stack, "UPDATE_COMPLETE", null, resolve);
        }
        const size = Math.min(batch, old.length - index);
        openWindow(stack, size, options.pauseTimeSeconds ?? AWS_DEFAULT_SIGNAL_TIMEOUT_SECONDS, (outcome, reason) => {
          if (outcome === "failure") {
            stop();
            stack.status = "UPDATE_ROLLBACK_IN_PROGRESS";
            for (const id of launchedNew) if (autoscaling.instances.get(id)?.lifecycleState !== "Terminated") autoscaling.terminate(id, "update rolled back", true);
            return finish(stack, "UPDATE_ROLLBACK_COMPLETE", reason, resolve);
          }
          for (const id of old.slice(index, index + size)) autoscaling.terminate(id, "replaced by the rolling update", true);
          step(index + size);
        });
        g.max = Math.max(g.max, g.desired + size);
        autoscaling.setDesired(g.name, g.desired + size);
      };
      step(0);
      return stack.settled;
    },
    handle(action: string, params: QueryParams): XmlValue {
      switch (action) {
        case "SignalResource": {
          const stack = stackOf(params.required("StackName"));
          const logicalId = params.required("LogicalResourceId");
          const uniqueId = params.required("UniqueId");
          const status = params.required("Status");
          if (status !== "SUCCESS" && status !== "FAILURE") throw new AwsError("ValidationError", `1 validation error detected: Value '${status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [SUCCESS, FAILURE]`);
          const record = { uniqueId, status, accepted: false, at: clock.now() };
          stack.signals.push(record);
          // Signals count only while the resource waits for them (CreationPolicy during create, WaitOnResourceSignals during a
          // rolling update). Otherwise, e.g. an instance the group launched after the stack settled: "Stack <name> is in
          // CREATE_COMPLETE state and cannot be signaled" (HTTP 400) — aws-cloudformation-templates issues 34 and 126; buildkite's
          // elastic-ci-stack-for-aws PR 388.
          if (!stack.window) throw new AwsError("ValidationError", `Stack ${stack.name} is in ${stack.status} state and cannot be signaled`);
          // Judgement on the wording: a logical ID the stack does not have.
          if (logicalId !== stack.logicalResourceId) throw new AwsError("ValidationError", `Resource ${logicalId} does not exist for stack ${stack.name}`);
          record.accepted = true;
          deps.log({ resource: `stack/${stack.name}`, what: `signal ${status} from ${uniqueId}` });
          // "A failure signal causes CloudFormation to immediately fail the stack creation or update" (API_SignalResource.html).
          if (status === "FAILURE") stack.window.done("failure", `Received FAILURE signal with UniqueId ${uniqueId}`);
          else {
            // Judgement: a repeated UniqueId counts once.
            stack.window.successes.add(uniqueId);
            if (stack.window.successes.size >= stack.window.count) stack.window.done("success", `${stack.window.count} SUCCESS signal(s)`);
          }
          return {};
        }
        case "DescribeStacks": {
          const name = params.get("StackName");
          const chosen = name ? [stackOf(name)] : [...stacks.values()];
          return { Stacks: chosen.map((s) => ({ StackName: s.name, StackId: s.id, StackStatus: s.status, StackStatusReason: s.statusReason ?? undefined, CreationTime: new Date().toISOString() })) };
        }
        default:
          throw new AwsError("InvalidAction", `The action ${action} is not valid for this web service (the twin models SignalResource, DescribeStacks)`);
      }
    },
  };
}

export type CloudFormation = ReturnType<typeof createCloudFormation>;
