// The agent's AWS calls against the AWS twin (test/twin), which refuses what AWS refuses: the signal step's plan performed while the
// stack waits (signalled), after it settled (ValidationError "cannot be signaled": recorded as not waiting, no error) and for a stack
// that does not exist (an error); the balancer seam registering a target the twin then health-checks.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createAwsAdapter } from "../../bootstrap/adapters/aws.ts";
import { createBalancer } from "../../bootstrap/adapters/balancer.ts";
import { resolveConfig } from "../../bootstrap/config.ts";
import { createAgentExecutor } from "../../bootstrap/executor.ts";
import { planSignal, readSignalRecord } from "../../bootstrap/steps/signal.ts";
import { fakeFleet } from "../twin/fake-instances.ts";
import { startTwin, type Twin } from "../twin/twin.ts";
import { tempDir } from "./helpers.ts";
import { freePort } from "./loopback.ts";

const REGION = "eu-west-1";
const FAST = { attempts: 3, minDelayMs: 10, maxDelayMs: 20, deadlineMs: 5_000 };
Object.assign(process.env, { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_EC2_METADATA_DISABLED: "true" });

describe("the agent's calls against the AWS twin", () => {
  let twin: Twin;
  let port = 0;
  let fleet: ReturnType<typeof fakeFleet>;
  const dirs: string[] = [];
  before(async () => {
    port = await freePort();
    fleet = fakeFleet(port);
    twin = await startTwin({ region: REGION, timeScale: 0.01, launch: (i) => fleet.launch(i), terminate: (i) => fleet.terminate(i) });
  });
  after(async () => {
    await twin.close();
    await fleet.close();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  const executor = () => {
    const lines: string[] = [];
    return { lines, executor: createAgentExecutor({ log: (line) => lines.push(line), aws: async () => createAwsAdapter({ region: REGION, endpoint: twin.url, retry: FAST }) }) };
  };
  const config = (stackName: string) => {
    const stateDir = tempDir("cdagent-twin-signal");
    dirs.push(stateDir);
    return resolveConfig(false, { file: { fileSystemId: "fs-0123456789abcdef0", stateDir, stackName, logicalResourceId: "Group" } }).config;
  };
  const live = (group: string) => [...twin.autoscaling.instances.values()].filter((i) => i.group === group && i.lifecycleState === "InService");

  it("while the create waits: signalled and recorded; after it settled, a scale-out instance's signal is nothing to signal — recorded 'not-waiting', journaled with AWS's words, no error; a re-run signals nothing", async () => {
    const stack = twin.cloudformation.createStack({ name: "prod", logicalResourceId: "Group", signalCount: 1, signalTimeoutSeconds: 600, group: { name: "prod-asg", min: 1, max: 2, desired: 1, zones: [`${REGION}a`] } });
    await twin.waitFor("an instance", () => live("prod-asg").length === 1);
    const first = live("prod-asg")[0]!;
    const early = config("prod");
    const { executor: run } = executor();
    for (const action of planSignal({ instanceId: first.id, recorded: null, now: new Date().toISOString() }, early)) assert.equal(await run.perform(action), null);
    assert.equal(await stack.settled, "CREATE_COMPLETE");
    assert.equal(readSignalRecord(early.stateDir)?.outcome, "signalled");

    twin.autoscaling.setDesired("prod-asg", 2);
    await twin.waitFor("the scale-out instance", () => live("prod-asg").length === 2);
    const late = live("prod-asg").find((i) => i.id !== first.id)!;
    const lateConfig = config("prod");
    const { executor: lateRun, lines } = executor();
    const notes: (string | null)[] = [];
    for (const action of planSignal({ instanceId: late.id, recorded: null, now: new Date().toISOString() }, lateConfig)) notes.push(await lateRun.perform(action));
    assert.deepEqual(notes, ["the stack was not waiting for a signal: nothing to signal (cloudformation:SignalResource answered ValidationError: Stack prod is in CREATE_COMPLETE state and cannot be signaled)"]);
    assert.ok(lines.some((line) => line.includes("nothing to signal")));
    const record = readSignalRecord(lateConfig.stateDir)!;
    assert.deepEqual({ status: record.status, outcome: record.outcome, instanceId: record.instanceId }, { status: "SUCCESS", outcome: "not-waiting", instanceId: late.id });
    assert.deepEqual(planSignal({ instanceId: late.id, recorded: record, now: new Date().toISOString() }, lateConfig), [], "a reboot does not signal again");
    assert.deepEqual(stack.signals.map((s) => s.accepted), [true, false], "the twin took the first and refused the second");
  });

  it("a stack that does not exist stays an error (nothing recorded): a wrong stackName is a misconfiguration, not 'not waiting'", async () => {
    const wrong = config("no-such-stack");
    const { executor: run } = executor();
    const [action] = planSignal({ instanceId: "i-0123456789abcdef0", recorded: null, now: new Date().toISOString() }, wrong);
    await assert.rejects(run.perform(action!), /SignalResource failed after 1 attempt: ValidationError \(HTTP 400\): Stack with id no-such-stack does not exist/);
    assert.equal(fs.existsSync(path.join(wrong.stateDir, "signal.json")), false);
  });

  it("the balancer seam registers a target with the twin's target group, which checks it to healthy; DescribeTargetHealth reads it back", async () => {
    const tg = twin.elbv2.createTargetGroup({ name: "seam", port, healthCheck: { path: "/api/health", intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 2, unhealthyThreshold: 2 }, deregistrationDelaySeconds: 300 });
    twin.autoscaling.createGroup({ name: "seam-asg", min: 0, max: 1, desired: 1, zones: [`${REGION}a`] });
    await twin.waitFor("in service", () => live("seam-asg").length === 1);
    const instance = live("seam-asg")[0]!;
    const aws = createAwsAdapter({ region: REGION, endpoint: twin.url, retry: FAST });
    const balancer = createBalancer(`elbv2:${tg.arn}`, async () => aws);
    assert.equal((await balancer.health({ id: instance.id, port })).state, "unregistered");
    await balancer.register({ id: instance.id, port });
    await twin.waitFor("healthy", () => twin.elbv2.state(tg.arn, instance.id, port) === "healthy");
    assert.equal((await balancer.health({ id: instance.id, port })).state, "healthy");
    await balancer.deregister({ id: instance.id, port });
    assert.equal((await balancer.health({ id: instance.id, port })).state, "draining");
    twin.autoscaling.setDesired("seam-asg", 0);
  });
});
