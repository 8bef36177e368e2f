// Planner tests for the steps after migrate (image, start, launch, verify, signal), migrate's heartbeat, and supervise's decisions: pure, from observed values alone, failure cases included.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AgentAction } from "../../compose/actions.ts";
import { imageRefString } from "../../compose/model.ts";
import { resolveConfig, tagLayer, type Config } from "../../bootstrap/config.ts";
import { StepError } from "../../bootstrap/errors.ts";
import { stackModel, projectName } from "../../bootstrap/stack.ts";
import { planImage, type ImageSeen } from "../../bootstrap/steps/image.ts";
import { planStart, upReason } from "../../bootstrap/steps/start.ts";
import { planVerify, targetVerdict } from "../../bootstrap/steps/verify.ts";
import { planFailureSignal, planSignal, SignalRecordSchema } from "../../bootstrap/steps/signal.ts";
import { afterFailedAction } from "../../bootstrap/supervise-plan.ts";
import { AwsCallError } from "../../bootstrap/adapters/aws.ts";
import { isNothingToDo } from "../../bootstrap/executor.ts";
import { launchHeartbeat, planFailureLaunch, planLaunch } from "../../bootstrap/steps/launch.ts";
import { planMigrate } from "../../bootstrap/steps/migrate.ts";
import { decide, INITIAL_STATE, type SuperviseContext } from "../../bootstrap/supervise-plan.ts";

const FS = "fs-0123456789abcdef0";
const ARN = "arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup/web/0123456789abcdef";
const IMAGE = `registry.example.com/codedetect:v2@sha256:${"a".repeat(64)}`;
const aws: Config = resolveConfig(false, {
  file: { fileSystemId: FS, stateDir: "/var/lib/codedetect", sharedDir: "/mnt/efs", image: IMAGE, stackName: "prod", logicalResourceId: "WebGroup", targetGroupArn: ARN, autoScalingGroup: "web-asg", lifecycleHook: "drain" },
}).config;
const local: Config = resolveConfig(true, { file: { stateDir: "/s", sharedDir: "/shared" } }).config;
const identity = { instanceId: "i-0abc1234def567890", zone: "eu-west-1b", region: "eu-west-1", source: "imds" as const };
const now = "2026-01-01T00:00:00.000Z";

function stepError(fn: () => unknown, pattern: RegExp): StepError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof StepError, `expected a StepError, got ${String(thrown)}`);
  assert.match(thrown.message, pattern);
  return thrown;
}

describe("the stack model built from the configuration", () => {
  it("binds the shared tree, publishes the configured port, and passes the identity to the server for /api/info", () => {
    const model = stackModel(aws, identity, IMAGE);
    assert.equal(model.project, "codedetect");
    assert.deepEqual(model.port, { bind: "0.0.0.0", host: 5000, container: 5000 });
    assert.deepEqual(model.storage, { efsRoot: "/mnt/efs", database: "/mnt/efs/codedetect/database", uploads: "/mnt/efs/codedetect/uploads" });
    assert.deepEqual(model.environment, { AVAILABILITY_ZONE: "eu-west-1b", AWS_REGION: "eu-west-1", INSTANCE_ID: "i-0abc1234def567890" });
    assert.equal(model.logging.driver, "json-file");
    const logged = stackModel({ ...aws, logGroup: "/codedetect/app" }, identity, IMAGE);
    assert.deepEqual(logged.logging, { driver: "awslogs", group: "/codedetect/app", region: "eu-west-1", stream: "i-0abc1234def567890" });
  });

  it("passes the load balancer's CIDRs (the codedetect:trustedProxies tag the template sets) to the server as TRUSTED_PROXIES, so clients are told apart behind it", () => {
    const tagged = resolveConfig(false, { file: { fileSystemId: FS, image: IMAGE }, tags: tagLayer({ "codedetect:trustedProxies": "10.0.0.0/16,10.1.0.0/16" }) });
    assert.equal(tagged.sources.trustedProxies, "tag");
    assert.equal(stackModel(tagged.config, identity, IMAGE).environment.TRUSTED_PROXIES, "10.0.0.0/16,10.1.0.0/16");
    assert.equal(stackModel(aws, identity, IMAGE).environment.TRUSTED_PROXIES, undefined, "not set: the server takes the peer as the client");
    // a value the server would refuse stops the agent while it resolves its configuration, before any step changes anything
    assert.throws(
      () => resolveConfig(false, { file: { fileSystemId: FS }, tags: tagLayer({ "codedetect:trustedProxies": "10.0.0.0/99" }) }),
      /^ConfigProblem: trustedProxies \(from instance tag\): must be comma-separated CIDRs such as "10.0.0.0\/16,10.1.0.0\/16"/,
    );
  });

  it("locally, each state directory is its own project on 127.0.0.1, unless a project is named", () => {
    const one = projectName({ ...local, stateDir: "/a" });
    const two = projectName({ ...local, stateDir: "/b" });
    assert.match(one, /^codedetect-[0-9a-f]{10}$/);
    assert.notEqual(one, two);
    assert.equal(projectName({ ...local, project: "cdagent-x" }), "cdagent-x");
    assert.equal(stackModel(local, null, IMAGE).port.bind, "127.0.0.1");
    assert.equal(stackModel(local, null, IMAGE).drainSeconds, 0);
  });

  it("limits the container's memory to the instance's, less the host's reserve, with an analyzer ceiling for its processors (issue 14)", () => {
    const small = stackModel(aws, identity, IMAGE, { memoryMb: 1986, cpus: 2 }); // a t3.small as the kernel reports it
    assert.deepEqual(small.memory, { limitMb: 1474, analyzerMb: 545 });
    assert.equal(small.environment.ANALYZER_MEMORY_MB, "545");
    const large = stackModel(aws, identity, IMAGE, { memoryMb: 15_880, cpus: 4 });
    assert.deepEqual(large.memory, { limitMb: 15_368, analyzerMb: 1024 });
    assert.equal(stackModel(aws, identity, IMAGE).memory, undefined, "without an observation of the host (tests, dry runs of old state), no limit");
    // a t3.micro (the template's default instance type) as the kernel reports it: too small for a lane per processor,
    // so one lane with a ceiling that fits, not a start step that refuses to run the server at all
    const micro = stackModel(aws, identity, IMAGE, { memoryMb: 949, cpus: 2 });
    assert.deepEqual(micro.memory, { limitMb: 640, analyzerMb: 256, workers: 1 });
    assert.equal(micro.environment.ANALYZER_WORKERS, "1");
    assert.equal(micro.environment.ANALYZER_MEMORY_MB, "256");
    assert.ok(Number(micro.environment.ANALYZER_RECYCLE_MB) < 256, "the server refuses a recycle threshold at or above the ceiling");
  });
});

describe("image", () => {
  const seen = (over: Partial<ImageSeen>): ImageSeen => ({ mode: "local", configured: null, context: { dir: "/repo", hash: "b".repeat(64) }, recorded: null, recordedPresent: false, ...over });

  it("a configured image needs nothing here (start pulls it by digest)", () => {
    assert.deepEqual(planImage(seen({ mode: "aws", configured: IMAGE, context: null }), aws), []);
  });

  it("on AWS without an image: refused, naming where to set it", () => {
    stepError(() => planImage(seen({ mode: "aws", context: null }), aws), /no image is configured; next: set image .* codedetect:image tag or CODEDETECT_IMAGE/);
  });

  it("locally: builds from the Dockerfile and pins the build by digest; then nothing until the sources change or the image is gone", () => {
    const first = planImage(seen({}), local);
    assert.deepEqual(first.map((action) => action.kind), ["run", "pin-image"]);
    assert.deepEqual(first[0]!.kind === "run" && first[0]!.argv.slice(0, 2), ["docker", "build"]);
    const recorded = { contextHash: "b".repeat(64), image: IMAGE, builtAt: now };
    assert.deepEqual(planImage(seen({ recorded, recordedPresent: true }), local), []);
    assert.equal(planImage(seen({ recorded, recordedPresent: false }), local).length, 2, "removed from the engine: rebuilt");
    assert.equal(planImage(seen({ recorded: { ...recorded, contextHash: "c".repeat(64) }, recordedPresent: true }), local).length, 2, "sources changed: rebuilt");
  });

  it("locally without a Dockerfile: refused, saying to pass --image", () => {
    stepError(() => planImage(seen({ context: null }), local), /no Dockerfile .*; next: run from the repository .* or pass --image/);
  });
});

describe("start", () => {
  const model = stackModel(aws, identity, IMAGE);
  const write: AgentAction = { kind: "write", path: "/var/lib/codedetect/state.json", content: "{}", mode: 0o644 };

  it("ups the stack through the runner when the runner's own plan has anything to start, pull or record", () => {
    assert.equal(upReason({ pull: [], start: [1], record: [] }, null), "no container yet");
    assert.match(upReason({ pull: [], start: [1], record: [] }, { state: "exited", health: "unhealthy", image: IMAGE })!, /the service is exited, health unhealthy/);
    assert.equal(upReason({ pull: [1], start: [], record: [] }, null), "the image is not in the local image store");
    assert.match(upReason({ pull: [], start: [], record: [write] }, null)!, /not recorded as the rollback target/);
    const actions = planStart({ model, reason: "no container yet", port: { state: "free" } }, aws);
    assert.deepEqual(actions, [{ kind: "stack-up", stateDir: "/var/lib/codedetect", model, purpose: "no container yet" }]);
  });

  it("runs healthy and recorded (pruning aside): nothing to do", () => {
    const prune: AgentAction = { kind: "run", argv: ["docker", "rmi", "old"] };
    assert.equal(upReason({ pull: [], start: [], record: [prune] }, null), null);
    assert.deepEqual(planStart({ model, reason: null, port: { state: "free" } }, aws), []);
  });
});

describe("verify", () => {
  const target = { id: identity.instanceId, port: 5000 };
  const spec = `elbv2:${ARN}`;

  it("healthy here and at the load balancer: nothing to do", () => {
    assert.deepEqual(planVerify({ url: "http://127.0.0.1:5000", local: { healthy: true, detail: "200 healthy" }, balancer: { spec, target, health: { state: "healthy", reason: null } } }, aws), []);
  });

  it("waits (bounded by verifyWaitSeconds) for the local check, then for the target; registers a target the group does not list", () => {
    const actions = planVerify({ url: "http://127.0.0.1:5000", local: { healthy: false, detail: "connection refused" }, balancer: { spec, target, health: { state: "unregistered", reason: null } } }, aws);
    assert.deepEqual(actions.map((action) => action.kind), ["wait", "balancer", "wait"]);
    assert.deepEqual(actions[0], { kind: "wait", until: "local-healthy:http://127.0.0.1:5000", deadlineMs: 300_000, next: actions[0]!.kind === "wait" ? actions[0]!.next : "" });
    assert.deepEqual(actions[1], { kind: "balancer", op: "register", balancer: spec, target });
    assert.equal(actions[2]!.kind === "wait" && actions[2]!.until, `target-healthy:${spec}|${identity.instanceId}:5000`);
  });

  it("an unhealthy or initial target is waited for, not failed at once (the balancer needs its passes); only healthy is done", () => {
    assert.deepEqual(targetVerdict({ state: "initial", reason: "Elb.RegistrationInProgress" }, "healthy"), { state: "pending", detail: "initial (Elb.RegistrationInProgress)" });
    assert.equal(targetVerdict({ state: "unhealthy", reason: null }, "healthy").state, "pending");
    assert.equal(targetVerdict({ state: "healthy", reason: null }, "healthy").state, "done");
    assert.equal(targetVerdict({ state: "draining", reason: null }, "gone").state, "pending");
    assert.equal(targetVerdict({ state: "unregistered", reason: null }, "gone").state, "done");
  });
});

describe("signal", () => {
  it("SUCCESS once, UniqueId = the instance ID, its outcome recorded; a re-run signals nothing, whether the stack took it or was not waiting", () => {
    const actions = planSignal({ instanceId: identity.instanceId, recorded: null, now }, aws);
    assert.equal(actions.length, 1);
    const signal = actions[0]!;
    assert.ok(signal.kind === "aws");
    assert.deepEqual({ call: signal.call, input: signal.input }, { call: "cloudformation:SignalResource", input: { StackName: "prod", LogicalResourceId: "WebGroup", UniqueId: identity.instanceId, Status: "SUCCESS" } });
    for (const content of [signal.record!.accepted, signal.record!.nothingToDo]) {
      const recorded = JSON.parse(content);
      assert.deepEqual(planSignal({ instanceId: identity.instanceId, recorded, now }, aws), [], `after ${recorded.outcome}`);
    }
    assert.equal(JSON.parse(signal.record!.accepted).outcome, "signalled");
    assert.equal(JSON.parse(signal.record!.nothingToDo).outcome, "not-waiting");
  });

  it("'Stack … is in CREATE_COMPLETE (UPDATE_COMPLETE) state and cannot be signaled' is declared nothing to do; any other refusal is not", () => {
    const [signal] = planSignal({ instanceId: identity.instanceId, recorded: null, now }, aws);
    assert.ok(signal?.kind === "aws" && signal.nothingToDo);
    const matches = (code: string, message: string) => isNothingToDo(signal, new AwsCallError("x", Object.assign(new Error(message), { name: code, $metadata: { httpStatusCode: 400 } })));
    assert.equal(matches("ValidationError", "Stack prod is in CREATE_COMPLETE state and cannot be signaled"), true);
    assert.equal(matches("ValidationError", "Stack prod is in UPDATE_COMPLETE state and cannot be signaled"), true);
    assert.equal(matches("ValidationError", "Stack with id prod does not exist"), false, "a wrong stack name stays an error");
    assert.equal(matches("AccessDenied", "User is not authorized to perform: cloudformation:SignalResource"), false);
    assert.equal(isNothingToDo(signal, new Error("Stack prod is in CREATE_COMPLETE state and cannot be signaled")), false, "only AWS's answer, not any error text");
  });

  it("after a FAILURE (or for another stack) a successful run signals SUCCESS; a record of an older agent (no outcome) still reads", () => {
    const failed = { instanceId: identity.instanceId, status: "FAILURE" as const, at: now, stackName: "prod", logicalResourceId: "WebGroup" };
    assert.equal(planSignal({ instanceId: identity.instanceId, recorded: failed, now }, aws).length, 1);
    assert.equal(planSignal({ instanceId: identity.instanceId, recorded: { ...failed, status: "SUCCESS", stackName: "old" }, now }, aws).length, 1);
    assert.equal(SignalRecordSchema.safeParse({ ...failed, status: "SUCCESS" }).success, true);
    assert.equal(SignalRecordSchema.safeParse({ ...failed, outcome: "maybe" }).success, false);
  });

  it("locally, or without a stack to signal: nothing", () => {
    assert.deepEqual(planSignal({ instanceId: "local-1", recorded: null, now }, local), []);
    assert.deepEqual(planSignal({ instanceId: identity.instanceId, recorded: null, now }, { ...aws, stackName: null }), []);
  });

  it("a failed step signals FAILURE at once: registry down, or the app never healthy (after the runner's rollback)", () => {
    const registryDown = new StepError({ step: "start", action: "pull registry.example.com/codedetect:v2", cause: "dial tcp: connection refused (6 attempts over 300.0 s)", next: "check the registry" });
    const neverHealthy = new StepError({ step: "start", action: "up codedetect", cause: "it did not turn healthy: health check failing; rolled back to v1, which is healthy again", next: "fix the new version" });
    for (const failure of [registryDown, neverHealthy]) {
      const actions = planFailureSignal(aws, identity, failure, now);
      assert.equal(actions[0]!.kind === "aws" && (actions[0]!.input as { Status: string }).Status, "FAILURE");
      assert.equal(actions[0]!.kind === "aws" && (actions[0]!.input as { UniqueId: string }).UniqueId, identity.instanceId);
    }
    assert.deepEqual(planFailureSignal(aws, null, registryDown, now), [], "identity unknown (IMDS down): nothing to sign with");
    assert.deepEqual(planFailureSignal(local, { ...identity, source: "host" }, registryDown, now), []);
  });
});

describe("launch (the launching lifecycle hook)", () => {
  const hooked: Config = resolveConfig(false, { file: { ...aws, launchHook: "ready-before-in-service", launchHeartbeatSeconds: 20 } }).config;
  const complete = (result: string) => ({
    kind: "aws",
    call: "autoscaling:CompleteLifecycleAction",
    input: { AutoScalingGroupName: "web-asg", LifecycleHookName: "ready-before-in-service", InstanceId: identity.instanceId, LifecycleActionResult: result },
    next: "grant autoscaling:CompleteLifecycleAction on the group to the instance role, and check autoScalingGroup and launchHook",
    nothingToDo: { code: "ValidationError", message: "No active Lifecycle Action found", note: `no ${result} to send: the group has no pending launching action for this instance (launched before the hook existed, or completed already)` },
  });
  const record = (result: string) => ({ kind: "write", path: "/var/lib/codedetect/launch.json", content: `${JSON.stringify({ instanceId: identity.instanceId, hook: "ready-before-in-service", result, at: now })}\n`, mode: 0o644 });

  it("CONTINUE once the app serves, with a record (no pending action is nothing to do, not a failure); a re-run completes nothing", () => {
    assert.deepEqual(planLaunch({ instanceId: identity.instanceId, recorded: null, now }, hooked), [complete("CONTINUE"), record("CONTINUE")]);
    const recorded = { instanceId: identity.instanceId, hook: "ready-before-in-service", result: "CONTINUE" as const, at: now };
    assert.deepEqual(planLaunch({ instanceId: identity.instanceId, recorded, now }, hooked), []);
  });

  it("locally, or without a launching hook configured: nothing, and no heartbeat", () => {
    assert.deepEqual(planLaunch({ instanceId: identity.instanceId, recorded: null, now }, aws), []);
    assert.deepEqual(planLaunch({ instanceId: "local-1", recorded: null, now }, local), []);
    assert.equal(launchHeartbeat(aws, identity.instanceId), null);
  });

  it("the migration heartbeats the hook while it copies or waits for the lock", () => {
    const [migrate] = planMigrate({ holder: identity.instanceId, source: { database: true, uploads: true }, marker: null, pending: false, leftovers: [] }, hooked);
    assert.deepEqual((migrate as Extract<AgentAction, { kind: "migrate" }>).heartbeat, {
      call: "autoscaling:RecordLifecycleActionHeartbeat",
      input: { AutoScalingGroupName: "web-asg", LifecycleHookName: "ready-before-in-service", InstanceId: identity.instanceId },
      everySeconds: 20,
    });
  });

  it("the stack's start (pull, health gate) heartbeats it too, until the launch step completes it", () => {
    const model = stackModel(hooked, identity, IMAGE);
    const [up] = planStart({ model, reason: "no container yet", instanceId: identity.instanceId, port: { state: "free" } }, hooked);
    assert.equal((up as Extract<AgentAction, { kind: "stack-up" }>).heartbeat?.call, "autoscaling:RecordLifecycleActionHeartbeat");
    assert.equal("heartbeat" in planStart({ model, reason: "no container yet", instanceId: identity.instanceId, port: { state: "free" } }, aws)[0]!, false, "no hook, no heartbeat");
  });

  it("a failed step ABANDONs the pending action (the group replaces the instance), unless it was completed already", () => {
    const failure = new StepError({ step: "migrate", action: "migrate", cause: "the migration lock is held", next: "wait" });
    assert.deepEqual(planFailureLaunch(hooked, identity, null, failure, now), [complete("ABANDON"), record("ABANDON")]);
    const recorded = { instanceId: identity.instanceId, hook: "ready-before-in-service", result: "CONTINUE" as const, at: now };
    assert.deepEqual(planFailureLaunch(hooked, identity, recorded, failure, now), [], "in service already: verify's failure is the signal's and the group's business");
    assert.deepEqual(planFailureLaunch(hooked, null, null, failure, now), [], "no identity: nothing to name");
  });
});

describe("supervise", () => {
  const model = stackModel(aws, identity, IMAGE);
  const ctx: SuperviseContext = { config: aws, instanceId: identity.instanceId, model, balancer: `elbv2:${ARN}` };
  const healthy = { health: { healthy: true, detail: "200 healthy" }, lifecycle: "InService", stopRequested: null };
  const down = { health: { healthy: false, detail: "connection refused" }, lifecycle: "InService", stopRequested: null };

  /** Feeds observations one after another; returns each decision. */
  function run(observations: (typeof healthy)[], context = ctx) {
    let state = INITIAL_STATE;
    return observations.map((seen) => {
      const decision = decide(state, seen, context);
      state = decision.state;
      return decision;
    });
  }

  it("healthy: nothing to do", () => {
    assert.deepEqual(run([healthy, healthy]).map((d) => d.actions), [[], []]);
  });

  it("an update a killed deploy left half-done is finished once, through the runner, while the stack serves; not while it fails", () => {
    const next = stackModel(aws, identity, `${IMAGE.replace(/@.*/, "")}@sha256:${"b".repeat(64)}`);
    const interrupted = { ...healthy, interruptedUpdate: next } as typeof healthy;
    const [finish, again] = run([interrupted, interrupted]);
    assert.deepEqual(finish!.actions, [{ kind: "stack-up", stateDir: aws.stateDir, model: next, purpose: "finish the update a deploy left half-done" }]);
    assert.match(finish!.note!, /^an update to .*@sha256:b{64} was left half-done \(state\.json records it pending; no deploy holds the host lock\): finishing it/);
    assert.deepEqual(again!.actions, [], "tried once: a version that cannot be brought up is not tried in a loop");
    assert.deepEqual(run([{ ...down, interruptedUpdate: next } as typeof healthy])[0]!.actions, [], "failing health is the restart's business first");
  });

  it("restarts (a new container beside the old one through the runner's swap and health gate) after repeated failures, not after one", () => {
    const decisions = run([down, down, down]);
    assert.deepEqual(decisions.map((d) => d.actions.length), [0, 0, 1]);
    const [restart] = decisions[2]!.actions;
    assert.ok(restart!.kind === "stack-replace", "the runner's replace: not compose's stop-then-start (--force-recreate)");
    assert.equal(restart.stateDir, "/var/lib/codedetect");
    assert.equal(imageRefString(restart.model.image), IMAGE);
    assert.deepEqual(run([down, healthy, down, down]).map((d) => d.actions.length), [0, 0, 0, 0], "a healthy poll resets the count");
  });

  it("when it stays unhealthy after the restarts: SetInstanceHealth Unhealthy, once, so the group replaces the instance", () => {
    const decisions = run(Array(12).fill(down));
    const calls = decisions.flatMap((d) => d.actions).filter((a) => a.kind === "aws");
    assert.deepEqual(calls, [{ kind: "aws", call: "autoscaling:SetInstanceHealth", input: { InstanceId: identity.instanceId, HealthStatus: "Unhealthy", ShouldRespectGracePeriod: false }, next: (calls[0] as { next: string }).next }]);
    assert.equal(decisions.flatMap((d) => d.actions).filter((a) => a.kind === "stack-replace").length, 2, "two restarts before");
    assert.equal(decisions.every((d) => !d.exit), true);
  });

  it("locally there is no group: it keeps restarting", () => {
    const localCtx = { ...ctx, config: local, balancer: null };
    const actions = run(Array(12).fill(down), localCtx).flatMap((d) => d.actions);
    assert.equal(actions.some((a) => a.kind === "aws"), false);
    assert.equal(actions.filter((a) => a.kind === "stack-replace").length, 4);
  });

  it("on SIGTERM: leave the target group, wait until it no longer routes here, stop the stack; exit", () => {
    const [decision] = run([{ ...healthy, stopRequested: "SIGTERM" } as unknown as typeof healthy]);
    assert.equal(decision!.exit, true);
    assert.deepEqual(decision!.actions.map((a) => a.kind), ["balancer", "wait", "stack-down"]);
    assert.deepEqual(decision!.actions[0], { kind: "balancer", op: "deregister", balancer: `elbv2:${ARN}`, target: { id: identity.instanceId, port: 5000 } });
    assert.equal(decision!.actions[1]!.kind === "wait" && decision!.actions[1]!.until, `target-gone:elbv2:${ARN}|${identity.instanceId}:5000`);
  });

  it("when the group terminates the instance (lifecycle Terminated): the same drain, then CompleteLifecycleAction CONTINUE", () => {
    const [decision] = run([{ ...healthy, lifecycle: "Terminated" }]);
    assert.equal(decision!.exit, true);
    assert.deepEqual(decision!.actions.map((a) => a.kind), ["balancer", "wait", "stack-down", "aws"]);
    const complete = decision!.actions[3]!;
    assert.deepEqual(complete.kind === "aws" && complete.input, { AutoScalingGroupName: "web-asg", LifecycleHookName: "drain", InstanceId: identity.instanceId, LifecycleActionResult: "CONTINUE" });
  });

  it("healthy but not in the target group (a supervisor stopped before deregistered it): registers it again, once the stack is healthy", () => {
    const gone = { state: "unregistered", reason: "Target.NotRegistered" };
    const [decision] = run([{ ...healthy, target: gone } as unknown as typeof healthy]);
    assert.deepEqual(decision!.actions, [{ kind: "balancer", op: "register", balancer: `elbv2:${ARN}`, target: { id: identity.instanceId, port: 5000 } }]);
    assert.match(decision!.note ?? "", /registering it again/);
    for (const state of ["initial", "healthy", "unhealthy", "draining", "unused"]) {
      assert.deepEqual(run([{ ...healthy, target: { state, reason: null } } as unknown as typeof healthy])[0]!.actions, [], `${state}: the balancer has it`);
    }
    assert.deepEqual(run([{ ...down, target: gone } as unknown as typeof healthy])[0]!.actions, [], "not while the stack is unhealthy");
    assert.deepEqual(run([{ ...healthy, target: null } as unknown as typeof healthy])[0]!.actions, [], "nothing when the balancer could not be read");
    assert.deepEqual(run([{ ...healthy, lifecycle: null, target: gone } as unknown as typeof healthy])[0]!.actions, [], "nothing on AWS when IMDS's lifecycle could not be read (a termination's drain may have removed it)");
    assert.deepEqual(run([{ ...healthy, lifecycle: "Terminated", target: gone } as unknown as typeof healthy])[0]!.actions.map((a) => a.kind), ["balancer", "wait", "stack-down", "aws"], "never while the group terminates it");
    assert.deepEqual(run([{ ...healthy, target: gone } as unknown as typeof healthy], { ...ctx, balancer: null })[0]!.actions, [], "no balancer configured");
    // EnterStandby deregisters the instance from its target groups (the operator's way to take it out): never undone; nor a warm pool's.
    for (const lifecycle of ["Standby", "Warmed:Running", "Pending"]) assert.deepEqual(run([{ ...healthy, lifecycle, target: gone } as unknown as typeof healthy])[0]!.actions, [], `${lifecycle}: not put back`);
  });

  it("a SetInstanceHealth that failed is sent again at the next unhealthy poll (not only once)", () => {
    let state = INITIAL_STATE;
    const sent: number[] = [];
    for (let poll = 0; poll < 16; poll += 1) {
      const decision = decide(state, down, ctx);
      state = decision.state;
      for (const action of decision.actions) {
        if (action.kind !== "aws") continue;
        sent.push(poll);
        if (sent.length === 1) state = afterFailedAction(state, action);
      }
    }
    assert.equal(sent.length, 2, `sent at polls ${sent.join(", ")}: the failed one, then once more (which got through)`);
    assert.equal(sent[1], sent[0]! + 1);
    assert.deepEqual(afterFailedAction({ failures: 3, restarts: 1, reportedUnhealthy: false, finishing: null }, { kind: "run", argv: ["x"], timeoutMs: 1, purpose: "x" }), { failures: 3, restarts: 1, reportedUnhealthy: false, finishing: null });
  });

  it("locally, Ctrl-C stops the stack and nothing else", () => {
    const [decision] = run([{ ...healthy, lifecycle: null, stopRequested: "SIGINT" } as unknown as typeof healthy], { ...ctx, config: local, balancer: null });
    assert.deepEqual(decision!.actions.map((a) => a.kind), ["stack-down"]);
  });
});
