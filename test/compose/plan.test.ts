// Planning as data: from a model and what was observed, exactly the actions that are missing — and none when all is done.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Action } from "../../compose/actions.ts";
import { describePlan } from "../../compose/actions.ts";
import { healthVerdict } from "../../compose/health-gate.ts";
import { defineStack, imageRefString } from "../../compose/model.ts";
import { dockerConfigContent, flattenPlan, parseHealthProbeName, planDown, planUp, type ServiceStatus } from "../../compose/plan.ts";
import { renderCompose } from "../../compose/render.ts";
import { serializeState } from "../../compose/state.ts";
import { DIGEST_1, DIGEST_2, DIGEST_3, DIGEST_4, appContainer, nothingObserved, planContext, REPO } from "./fixtures.ts";

const v1 = defineStack({ image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs" });
const v2 = defineStack({ image: `${REPO}:v2@${DIGEST_2}`, efsRoot: "/mnt/efs" });
const ctx = planContext();

function running(model = v1, overrides: Partial<ServiceStatus> = {}): ServiceStatus {
  return appContainer(model, overrides);
}

const kinds = (actions: Action[]) => actions.map((a) => (a.kind === "run" ? `run ${a.argv.slice(a.argv[1] === "compose" ? 6 : 1, a.argv[1] === "compose" ? 7 : 2).join(" ")}` : `${a.kind} ${a.kind === "write" ? a.path : a.until.split("=")[0]}`));

describe("planUp", () => {
  it("on a fresh host: pull with retries, claim the state directory, write compose.yaml, up without pulling, wait for health, record, in that order", () => {
    const plan = planUp(v1, nothingObserved(), ctx);
    assert.deepEqual(kinds(flattenPlan(plan)), ["run pull", "write /var/lib/codedetect/state.json", "write /var/lib/codedetect/compose.yaml", "run up", "wait healthy:codedetect/app", "write /var/lib/codedetect/state.json"]);
    const pull = plan.pull[0];
    assert.ok(pull?.kind === "run");
    assert.deepEqual(pull.argv, ["docker", "pull", "--quiet", `${REPO}:v1@${DIGEST_1}`]);
    assert.equal(pull.retry?.attempts, 6);
    const up = plan.start[1];
    assert.ok(up?.kind === "run");
    assert.deepEqual(up.argv, ["docker", "compose", "--project-name", "codedetect", "--file", "/var/lib/codedetect/compose.yaml", "up", "--detach", "--pull", "never", "--remove-orphans"]);
    const write = plan.start[0];
    assert.ok(write?.kind === "write");
    assert.equal(write.content, renderCompose(v1));
    const record = plan.record[0];
    assert.ok(record?.kind === "write");
    assert.deepEqual(JSON.parse(record.content), { project: "codedetect", current: v1, pending: null, history: [{ image: imageRefString(v1.image), deployedAt: ctx.now }] });
    const claim = plan.claim[0];
    assert.ok(claim?.kind === "write");
    assert.deepEqual(JSON.parse(claim.content), { project: "codedetect", current: null, pending: v1, history: [] });
  });

  it("plans nothing when the model already runs, healthy, and is recorded", () => {
    const seen = nothingObserved({
      composeFile: renderCompose(v1),
      imagePresent: true,
      service: running(v1),
      state: { project: "codedetect", pending: null, current: v1, history: [{ image: imageRefString(v1.image), deployedAt: "earlier" }] },
    });
    assert.deepEqual(flattenPlan(planUp(v1, seen, ctx)), []);
    assert.equal(describePlan([]), "(nothing to do)");
  });

  it("after a crash between the health gate and the record: only the record is written", () => {
    const seen = nothingObserved({ composeFile: renderCompose(v2), imagePresent: true, service: running(v2), state: { project: "codedetect", pending: null, current: v1, history: [{ image: imageRefString(v1.image), deployedAt: "t1" }] } });
    const plan = planUp(v2, seen, ctx);
    assert.deepEqual(kinds(flattenPlan(plan)), ["write /var/lib/codedetect/state.json"]);
  });

  it("a stopped container of the same model is replaced by a fresh one and gated, compose.yaml is not rewritten", () => {
    const seen = nothingObserved({ composeFile: renderCompose(v1), imagePresent: true, service: running(v1, { state: "exited", health: "unhealthy" }), state: { project: "codedetect", pending: null, current: v1, history: [{ image: imageRefString(v1.image), deployedAt: "t" }] } });
    assert.deepEqual(kinds(flattenPlan(planUp(v1, seen, ctx))), ["write /var/lib/codedetect/state.json", "run rm", "run up", "wait healthy:codedetect/app"]);
  });

  it("an update whose image is already local does not pull", () => {
    const seen = nothingObserved({ composeFile: renderCompose(v1), imagePresent: true, service: running(v1), state: { project: "codedetect", pending: null, current: v1, history: [] } });
    const plan = planUp(v2, seen, ctx);
    assert.deepEqual(plan.pull, []);
    assert.deepEqual(kinds(plan.start), ["write /var/lib/codedetect/compose.yaml", "run up", "wait healthy:codedetect/app", "run kill", "run stop", "run rm"]);
  });

  it("with registry credentials: new ones are tried from a candidate DOCKER_CONFIG and kept only after the pull, redacted in plans", () => {
    const auth = { registry: "registry.example:5000", username: "AWS", password: "s3cret-token" };
    const plan = planUp(v1, nothingObserved(), planContext({ auth }));
    const [write, pull, promote] = plan.pull;
    assert.ok(write?.kind === "write" && pull?.kind === "run" && promote?.kind === "write");
    assert.equal(write.path, "/var/lib/codedetect/docker-candidate/config.json");
    assert.equal(write.mode, 0o600);
    assert.deepEqual(JSON.parse(write.content), { auths: { "registry.example:5000": { auth: Buffer.from("AWS:s3cret-token").toString("base64") } } });
    assert.deepEqual(pull.env, { DOCKER_CONFIG: "/var/lib/codedetect/docker-candidate" });
    assert.equal(promote.path, "/var/lib/codedetect/docker/config.json");
    assert.equal(promote.content, write.content);
    assert.doesNotMatch(describePlan(plan.pull), /s3cret|QVdT/);
    const again = planUp(v1, nothingObserved({ dockerConfig: dockerConfigContent(auth) }), planContext({ auth }));
    assert.deepEqual(kinds(again.pull), ["run pull"]);
    assert.deepEqual((again.pull[0] as { env?: unknown }).env, { DOCKER_CONFIG: "/var/lib/codedetect/docker" });
  });

  it("keeps the last three good versions and anything in use; prunes the rest of the repository", () => {
    const history = [DIGEST_3, DIGEST_2, DIGEST_1].map((digest, i) => ({ image: `${REPO}:v${3 - i}@${digest}`, deployedAt: `t${3 - i}` }));
    const v4 = defineStack({ image: `${REPO}:v4@${DIGEST_4}`, efsRoot: "/mnt/efs" });
    const other = `sha256:${"9".repeat(64)}`;
    const seen = nothingObserved({
      imagePresent: true,
      state: { project: "codedetect", pending: null, current: v1, history },
      localImages: [
        { repository: REPO, digest: DIGEST_1, id: "sha256:i1" },
        { repository: REPO, digest: DIGEST_2, id: "sha256:i2" },
        { repository: REPO, digest: DIGEST_3, id: "sha256:i3" },
        { repository: REPO, digest: DIGEST_4, id: "sha256:i4" },
        { repository: REPO, digest: other, id: "sha256:i9" },
        { repository: "elsewhere/app", digest: `sha256:${"8".repeat(64)}`, id: "sha256:i8" },
      ],
      imagesInUse: ["sha256:i9"],
    });
    const record = planUp(v4, seen, ctx).record;
    const state = record[0];
    assert.ok(state?.kind === "write");
    assert.deepEqual(JSON.parse(state.content).history.map((r: { image: string }) => r.image.split("@")[0]), [`${REPO}:v4`, `${REPO}:v3`, `${REPO}:v2`]);
    const removed = record.slice(1).map((a) => (a.kind === "run" ? a.argv.join(" ") : ""));
    assert.deepEqual(removed, [`docker image rm ${REPO}@${DIGEST_1}`]);
  });

  it("serializes the state it records in a stable form", () => {
    assert.equal(serializeState({ project: "codedetect", current: null, pending: null, history: [] }), '{\n  "project": "codedetect",\n  "current": null,\n  "pending": null,\n  "history": []\n}\n');
  });
});

describe("planDown", () => {
  it("runs compose down for a project with containers, nothing otherwise", () => {
    assert.deepEqual(planDown("codedetect", [], ["docker", "compose"]), []);
    const [down] = planDown("codedetect", [running()], ["docker", "compose"]);
    assert.ok(down?.kind === "run");
    assert.deepEqual(down.argv, ["docker", "compose", "--project-name", "codedetect", "down", "--remove-orphans"]);
  });
});

describe("the health gate's verdict", () => {
  const image = imageRefString(v2.image);
  it("waits while the old container or a starting one is there", () => {
    assert.equal(healthVerdict(null, image).state, "pending");
    assert.equal(healthVerdict(running(v1), image).state, "pending");
    assert.equal(healthVerdict(running(v2, { health: "starting" }), image).state, "pending");
  });
  it("passes a running, healthy container of the new image", () => {
    assert.deepEqual(healthVerdict(running(v2), image), { state: "done" });
  });
  it("fails at once on unhealthy, exited or restarting, saying which", () => {
    assert.deepEqual(healthVerdict(running(v2, { health: "unhealthy", lastHealthOutput: "healthcheck: GET /api/health answered 503" }), image), {
      state: "failed",
      detail: "health check failing (healthcheck: GET /api/health answered 503)",
    });
    assert.deepEqual(healthVerdict(running(v2, { state: "exited", exitCode: 2 }), image), { state: "failed", detail: "the container exited with code 2" });
    assert.equal(healthVerdict(running(v2, { state: "restarting", restartCount: 2, exitCode: 1 }), image).state, "failed");
  });
  it("holds only this deploy's restarts against a container: one Docker restarted after a crash, before the re-run, passes once healthy", () => {
    const crashedBefore = running(v2, { health: "starting", restartCount: 1, exitCode: 137 });
    assert.equal(healthVerdict(crashedBefore, image).state, "failed", "without a baseline, the restart Docker made after the crash reads as a crash loop");
    assert.equal(healthVerdict(crashedBefore, image, { id: crashedBefore.id, restartCount: 1 }).state, "pending", "the on-call engineer's re-run after a kill -9 waits for it");
    assert.deepEqual(healthVerdict(running(v2, { health: "starting", restartCount: 2, exitCode: 1 }), image, { id: crashedBefore.id, restartCount: 1 }), {
      state: "failed",
      detail: "the container keeps exiting (code 1, restarted 1 time during this deploy)",
    });
    assert.equal(healthVerdict(running(v2, { id: "a-new-container", health: "starting", restartCount: 1 }), image, { id: crashedBefore.id, restartCount: 1 }).state, "failed", "a new container starts from zero");
  });
  it("names its probe with everything it checks", () => {
    assert.deepEqual(parseHealthProbeName(`healthy:codedetect/app=${image}`), { project: "codedetect", service: "app", image });
  });
});
