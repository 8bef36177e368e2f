// The refusal that keeps a healthy service with nothing recorded: its advice must be something the operator can do, not what they just did.
import assert from "node:assert/strict";
import { test } from "node:test";
import { defineStack, imageRefString, type StackModel } from "../../compose/model.ts";
import type { ServiceStatus } from "../../compose/plan.ts";
import { refuseUp } from "../../compose/preflight.ts";
import { renderCompose } from "../../compose/render.ts";
import { statePaths } from "../../compose/state.ts";
import { DIGEST_1, appContainer, nothingObserved, REPO } from "./fixtures.ts";

const v1 = defineStack({ image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs" });
const paths = statePaths("/var/lib/codedetect");

function healthy(model: StackModel): ServiceStatus {
  return appContainer(model);
}

test("up with exactly the image that runs, in a state directory holding neither state.json nor compose.yaml: told to use the right --state-dir, not to run up with that image again", () => {
  // the situation: the service was deployed from another state directory (or this one was wiped); the operator follows
  // the earlier advice and passes the image it runs; the old advice repeated itself
  const refusal = refuseUp(v1, nothingObserved({ service: healthy(v1), imagePresent: true }), paths);
  assert.ok(refusal && refusal.exitCode === 2);
  assert.equal(
    refusal.message,
    "up codedetect to " +
      imageRefString(v1.image) +
      ": codedetect/app runs healthy on this image, but /var/lib/codedetect/state.json records no version to roll back to and /var/lib/codedetect/compose.yaml is missing too, so what runs cannot be matched to this stack; next: use the --state-dir it was deployed with; or stop it with down and start afresh",
  );
});

test("the same image with a changed stack (compose.yaml differs) and nothing recorded: told to record with the stack it was deployed with", () => {
  const changed = defineStack({ image: imageRefString(v1.image), efsRoot: "/mnt/efs", hostPort: 5001 });
  const refusal = refuseUp(changed, nothingObserved({ composeFile: renderCompose(v1), service: healthy(v1), imagePresent: true }), paths);
  assert.ok(refusal);
  assert.match(refusal.message, /renders another \/var\/lib\/codedetect\/compose\.yaml than the one it runs with, so what runs cannot be matched to this stack; next: run up with the stack it was deployed with \(the same compose\.yaml\) to record it, then update/);
});
