// Pure refusals before `up` changes anything; the dry run asks the same questions, so it refuses what the real run refuses, with the same exit code.
import { configError, type ComposeError } from "./errors.ts";
import { imageRefString, type StackModel } from "./model.ts";
import { isRunningModel, rollbackTarget, type Observed } from "./plan.ts";
import { composeProject, type StatePaths } from "./state.ts";

/** The first reason `up` must not go ahead, or null. */
export function refuseUp(model: StackModel, seen: Observed, paths: StatePaths): ComposeError | null {
  const what = `up ${model.project} to ${imageRefString(model.image)}`;
  const recorded = seen.state?.project ?? composeProject(seen.composeFile);
  if (recorded !== null && recorded !== model.project) {
    const source = seen.state ? paths.stateFile : paths.composeFile;
    return configError(
      what,
      `the state directory ${paths.stateDir} belongs to project "${recorded}" (${source}), not "${model.project}"`,
      `use the stack of "${recorded}" here, or give "${model.project}" a state directory of its own (--state-dir)`,
    );
  }
  if (seen.missingDirs.length > 0) {
    return configError(
      what,
      `host directories missing: ${seen.missingDirs.join(", ")}`,
      `mount the shared file system at ${model.storage.efsRoot} and create codedetect/database and codedetect/uploads owned by uid 1000 (the bootstrap layout step does this), then re-run`,
    );
  }
  const service = seen.service;
  const serving = service !== null && service.state === "running" && service.health === "healthy";
  if (serving && !isRunningModel(model, seen) && rollbackTarget(seen.state, service) === null) {
    // Keep what runs: with nothing recorded to go back to, a failed update would leave this host serving nothing.
    if (service.image === imageRefString(model.image)) {
      // the image asked for is the one that runs: what differs is compose.yaml, so "run up with the image it runs" would loop
      const why = seen.composeFile === null ? `${paths.composeFile} is missing too` : `this stack renders another ${paths.composeFile} than the one it runs with`;
      return configError(
        what,
        `${model.project}/${model.service} runs healthy on this image, but ${paths.stateFile} records no version to roll back to and ${why}, so what runs cannot be matched to this stack`,
        seen.composeFile === null
          ? `use the --state-dir it was deployed with; or stop it with down and start afresh`
          : `run up with the stack it was deployed with (the same compose.yaml) to record it, then update; or stop it with down and start afresh`,
      );
    }
    return configError(
      what,
      `${model.project}/${model.service} runs healthy on ${service.image}, but ${paths.stateFile} records no version to roll back to`,
      `record what runs first: run up with the stack and image it runs (${service.image}), which changes nothing when compose.yaml is unchanged and records it; or stop it with down and start afresh`,
    );
  }
  if (serving && !isRunningModel(model, seen) && seen.missingRollbackImage !== null) {
    return configError(
      what,
      `the version to roll back to, ${seen.missingRollbackImage}, is not in the local image store, so a failed update could not be undone without the registry`,
      `pull it first (npm run compose -- pull --stack <its stack>), then re-run`,
    );
  }
  return null;
}
