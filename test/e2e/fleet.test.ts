// The fleet end to end, short form (scenarios 1, 1b, 2, 4 and fair-share-behind-lb of `npm run ha`): real agents in local mode on the real Docker Engine behind a real HAProxy, real load.
// Assertions on correctness only (failed requests, rows, checksums), never on time.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gate } from "../compose/docker-harness.ts";
import { fleetUnavailable, startFleet, stopFleet, type Harness } from "../../scripts/ha/harness.ts";
import { concurrentWriters, inPlaceDeploy, instanceDies, newVersionOf, rollingDeploy, type ScenarioResult } from "../../scripts/ha/scenarios.ts";
import { fairShareBehindLb } from "../../scripts/ha/behind-alb.ts";

const reason = await fleetUnavailable();
const { skip, mustFail } = gate(reason);

function explain(result: ScenarioResult): string {
  return `${result.name}: ${JSON.stringify({ ...result, failures: result.failures.slice(0, 10) })}`;
}

/** A deploy under load: no request failed or was refused, and every acknowledged upload is stored intact. */
function assertDeployedUnderLoad(result: ScenarioResult): void {
    assert.equal(result.failed, 0, explain(result));
    assert.equal(result.refused, 0, explain(result));
    assert.ok(result.rowsExpected > 0, `uploads were acknowledged during the deploy: ${explain(result)}`);
    assert.equal(result.rowsFound, result.rowsExpected, explain(result));
    assert.equal(result.lost, 0, explain(result));
    assert.equal(result.mismatched, 0, explain(result));
}

describe("a fleet behind HAProxy: rolling deploy, in-place deploy, a crash, concurrent writers", { skip }, () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cdha-e2e-"));
  let harness: Harness | null = null;

  before(async () => {
    if (mustFail) return;
    harness = await startFleet({ root, prefix: `cdha-e2e-${process.pid}`, size: 2, slotCount: 5 });
  });
  after(async () => {
    await stopFleet(harness);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("runs here (CI has Docker and haproxy)", () => {
    assert.equal(mustFail, false, `the fleet suite cannot run under CI: ${reason}`);
  });

  it("1 rolling deploy under load: every instance replaced by the new image, no failed request, every acknowledged upload stored intact", async () => {
    const fleet = harness!;
    const next = await newVersionOf(fleet.image, `e2e-${process.pid}`);
    const result = await rollingDeploy(fleet, next, { connections: 3, maxSeconds: 600, mix: "mixed" });
    assertDeployedUnderLoad(result);
    assert.equal(fleet.live.length, 2);
    for (const instance of fleet.live) assert.equal(instance.image, next, `${instance.name} runs the new image`);
  });

  it("1b the next version in place on every instance at once (bootstrap re-run beside supervise): no instance leaves the pool, no failed request, nothing lost", async () => {
    const fleet = harness!;
    const next = await newVersionOf(fleet.image, `e2e-${process.pid}-in-place`);
    const result = await inPlaceDeploy(fleet, next, { connections: 3, maxSeconds: 600, mix: "mixed" });
    assert.deepEqual(result.departures, [], `HAProxy saw every instance UP throughout: ${explain(result)}`);
    assertDeployedUnderLoad(result);
    assert.equal(result.perInstance.length, 2, "both instances were updated");
    for (const instance of fleet.live) assert.equal(instance.image, next, `${instance.name} runs the new image`);
  });

  it("2 an instance is killed (-9, container and agent): HAProxy routes around it, it comes back, no acknowledged upload lost", async () => {
    const result = await instanceDies(harness!, { connections: 3, maxSeconds: 600, mix: "mixed" }, 3);
    assert.equal(result.back, true, `the restarted supervisor brought the instance back into the pool: ${explain(result)}`);
    // Requests in flight on the killed instance fail; after the checks' detection window nothing fails.
    assert.equal(result.afterDetection, 0, explain(result));
    assert.equal(result.lost, 0, explain(result));
    assert.equal(result.mismatched, 0, explain(result));
    // an upload the dying server stored but never answered is a row without an acknowledgement, never the reverse
    assert.ok(result.rowsFound >= result.rowsExpected && result.rowsExpected > 0, explain(result));
  });

  it("4 concurrent writers through every instance: rows equal acknowledged uploads; overload answered with Retry-After, never a lost write", async () => {
    const result = await concurrentWriters(harness!, { connections: 8, maxSeconds: 300, mix: "uploads" }, 15);
    assert.equal(result.failed, 0, explain(result));
    assert.ok(result.rowsExpected > 0, explain(result));
    assert.equal(result.rowsFound, result.rowsExpected, explain(result));
    assert.equal(result.lost, 0, explain(result));
    assert.equal(result.mismatched, 0, explain(result));
  });

  it("fair-share-behind-lb: behind the ALB twin (its own address as every request's peer) a flooding client is refused beyond its share while another client is served", async () => {
    // the latency target (≤ 2 × idle) is measured by `npm run ha -- --only fair-share-behind-lb`, never asserted here
    const result = await fairShareBehindLb(harness!, 16, 5);
    const explainAlb = `${result.figures}: ${JSON.stringify(result.counts)}`;
    assert.equal(result.counts.idleServed, 5, explainAlb);
    assert.equal(result.counts.busyServed, 5, `every upload of the other client was served during the flood: ${explainAlb}`);
    assert.ok(result.counts.floodRefused! > 0, `the flooder met its share (429): ${explainAlb}`);
  });
});
