// The plan layer's safety rules, checked without an engine: one project per state directory, a rollback target before any update, distinct-digest retention, and a property over whatever state.json holds.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ComposeError } from "../../compose/errors.ts";
import { withLock } from "../../compose/lock.ts";
import { defineStack, imageRefString, type StackModel } from "../../compose/model.ts";
import { nextHistory, planPrune, planRecord, rollbackTarget, type Observed, type ServiceStatus } from "../../compose/plan.ts";
import { refuseUp } from "../../compose/preflight.ts";
import { renderCompose } from "../../compose/render.ts";
import { createRunner } from "../../compose/runner.ts";
import { stackModelSchema } from "../../compose/stack-schema.ts";
import { parseState, serializeState, statePaths, type DeployState } from "../../compose/state.ts";
import { DIGEST_1, DIGEST_2, DIGEST_3, DIGEST_4, appContainer, nothingObserved, planContext, REPO } from "./fixtures.ts";
import { stateContents } from "./state-contents.ts";

const model = (tag: string, digest: string, extra: Record<string, unknown> = {}) => defineStack({ image: `${REPO}:${tag}@${digest}`, efsRoot: "/mnt/efs", ...extra });
const v1 = model("v1", DIGEST_1);
const v2 = model("v2", DIGEST_2);
const broken = model("v3", DIGEST_3);
const paths = statePaths("/var/lib/codedetect");
const ctx = planContext();
const record = (m: StackModel, at = "2026-01-01T00:00:00.000Z") => ({ image: imageRefString(m.image), deployedAt: at });
const state = (overrides: Partial<DeployState> = {}): DeployState => ({ project: "codedetect", current: v1, pending: null, history: [record(v1)], ...overrides });

function healthy(m: StackModel, overrides: Partial<ServiceStatus> = {}): ServiceStatus {
  return appContainer(m, overrides);
}

const serving = (overrides: Partial<Observed> = {}) => nothingObserved({ composeFile: renderCompose(v1), service: healthy(v1), imagePresent: true, state: state(), ...overrides });

describe("one state directory, one project", () => {
  it("refuses a stack of another project, whether state.json or only compose.yaml records the first", () => {
    const other = model("v2", DIGEST_2, { project: "other" });
    const byState = refuseUp(other, serving(), paths);
    assert.ok(byState instanceof ComposeError && byState.exitCode === 2);
    assert.match(byState.message, /belongs to project "codedetect" \(\/var\/lib\/codedetect\/state\.json\), not "other"; next: use the stack of "codedetect" here, or give "other" a state directory of its own/);
    const byCompose = refuseUp(other, nothingObserved({ composeFile: renderCompose(v1) }), paths);
    assert.match(byCompose?.message ?? "", /belongs to project "codedetect" \(\/var\/lib\/codedetect\/compose\.yaml\)/);
    assert.equal(refuseUp(v2, serving(), paths), null);
  });
});

describe("keeping what runs when nothing is recorded", () => {
  it("refuses to replace a healthy service with no version recorded to roll back to, naming the image to record", () => {
    const refusal = refuseUp(v2, serving({ state: null }), paths);
    assert.ok(refusal && refusal.exitCode === 2);
    assert.match(refusal.message, new RegExp(`runs healthy on ${imageRefString(v1.image).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, but /var/lib/codedetect/state\\.json records no version to roll back to; next: record what runs first: run up with the stack and image it runs`));
    assert.ok(refuseUp(v2, serving({ state: state({ current: null, history: [] }) }), paths));
  });

  it("lets the version that runs be recorded, and lets a host that serves nothing be started", () => {
    assert.equal(refuseUp(v1, serving({ state: null }), paths), null);
    assert.equal(refuseUp(v2, nothingObserved(), paths), null);
    assert.equal(refuseUp(v2, serving({ state: null, service: healthy(v1, { health: "unhealthy" }) }), paths), null);
  });

  it("refuses when the rollback target's image is not on the host", () => {
    assert.match(refuseUp(v2, serving({ missingRollbackImage: imageRefString(v1.image) }), paths)?.message ?? "", /is not in the local image store/);
  });
});

describe("a record that could not be written", () => {
  it("the pending update is the rollback target while it runs healthy; otherwise the recorded one is", () => {
    const written = state({ pending: v2 });
    assert.equal(rollbackTarget(written, healthy(v2)), v2);
    assert.equal(rollbackTarget(written, healthy(v2, { health: "unhealthy" })), v1);
    assert.equal(rollbackTarget(written, healthy(v1)), v1);
    assert.equal(rollbackTarget(null, healthy(v1)), null);
  });

  it("recording settles the pending update", () => {
    const [write] = planRecord(v2, nothingObserved({ state: state({ pending: v2 }) }), ctx);
    assert.ok(write?.kind === "write");
    assert.deepEqual(parseState(write.content, "state.json"), { project: "codedetect", current: v2, pending: null, history: [{ image: imageRefString(v2.image), deployedAt: ctx.now }, record(v1)] });
  });
});

describe("retention by distinct digest", () => {
  it("the same digest under other tags counts once: the real previous version stays the rollback target and is not pruned", () => {
    let history = nextHistory(v1, [], "2026-01-01T00:00:00.000Z", 3);
    for (const tag of ["v2", "v2-alias", "v2-alias-2", "v2-alias-3"]) history = nextHistory(model(tag, DIGEST_2), history, "2026-01-02T00:00:00.000Z", 3);
    assert.deepEqual(history.map((r) => r.image.slice(r.image.indexOf("@") + 1)), [DIGEST_2, DIGEST_1]);
    assert.match(history[0]?.image ?? "", /:v2-alias-3@/);
    const seen = nothingObserved({ localImages: [{ repository: REPO, digest: DIGEST_1, id: "i1" }, { repository: REPO, digest: DIGEST_2, id: "i2" }] });
    assert.deepEqual(planPrune(model("v2-alias-3", DIGEST_2), history, seen, ctx), []);
  });

  it("prunes the failed image of another repository too, and leaves repositories this stack never used alone", () => {
    const other = "registry.example:5000/experiment";
    const seen = nothingObserved({
      localImages: [
        { repository: REPO, digest: DIGEST_1, id: "i1" },
        { repository: other, digest: DIGEST_4, id: "i4" },
        { repository: "unrelated/app", digest: DIGEST_3, id: "i3" },
      ],
    });
    const removed = planPrune(v1, [record(v1)], seen, ctx, [other]).map((a) => (a.kind === "run" ? a.argv.join(" ") : a.kind));
    assert.deepEqual(removed, [`docker image rm ${other}@${DIGEST_4}`]);
  });
});

describe("the host-wide lock", () => {
  it("refuses an up in another state directory while a deploy holds the host's lock, before looking at anything", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cdrun-lock-"));
    const lockDir = path.join(root, "lock");
    const runner = createRunner({ stateDir: path.join(root, "b"), lockDir, docker: "/nonexistent/docker" });
    await withLock(lockDir, "up elsewhere", async () => {
      await assert.rejects(runner.up(v1), /another deploy is in progress: .*\(up elsewhere\)/);
    });
    assert.equal(fs.existsSync(path.join(root, "b")), false);
    fs.rmSync(root, { recursive: true, force: true });
  });
});

describe("property: whatever state.json holds, an update goes ahead only with a rollback target on the host", () => {
  it("is refused (exit 2) before any change, or keeps a validated rollback target whose image is local", () => {
    const local = new Set([v1.image.digest]);
    fc.assert(
      fc.property(stateContents(state()), (text) => {
        let parsed: DeployState | null;
        try {
          parsed = parseState(text, paths.stateFile);
        } catch (error) {
          assert.ok(error instanceof ComposeError && error.exitCode === 2 && error.what.startsWith(`${paths.stateFile} field `), String(error));
          return;
        }
        const service = healthy(v1);
        const target = rollbackTarget(parsed, service);
        const seen = serving({ state: parsed, missingRollbackImage: target && !local.has(target.image.digest) ? imageRefString(target.image) : null });
        const refusal = refuseUp(broken, seen, paths);
        if (refusal) {
          assert.equal(refusal.exitCode, 2);
          return;
        }
        assert.ok(target, `no rollback target for ${text}`);
        assert.ok(stackModelSchema.safeParse(target).success);
        assert.ok(local.has(target.image.digest));
      }),
      { numRuns: 500 },
    );
  });
});
