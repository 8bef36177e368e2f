// Which versions stay on the host: the last distinct digests that passed their gate, and the prune of every other image this stack used.
import type { Action } from "./actions.ts";
import { imageRefString, type StackModel } from "./model.ts";
import type { Observed, PlanContext } from "./plan.ts";
import { digestOf, type DeployRecord } from "./state.ts";

/** Images to remove: of the repositories this stack used (the model's, the kept versions', a failed one's), all but the kept digests and anything a container uses. */
export function planPrune(model: StackModel, history: DeployRecord[], seen: Observed, ctx: PlanContext, failedRepositories: string[] = []): Action[] {
  const kept = history.slice(0, ctx.keep).map((record) => record.image);
  const keep = new Set([model.image.digest, ...kept.map(digestOf)]);
  const repositories = new Set([model.image.repository, ...kept.map((image) => image.slice(0, image.lastIndexOf(":", image.indexOf("@")))), ...failedRepositories]);
  const inUse = new Set(seen.imagesInUse);
  const remove = seen.localImages.filter((image) => repositories.has(image.repository) && !keep.has(image.digest) && !inUse.has(image.id));
  return [...new Map(remove.map((image) => [`${image.repository}@${image.digest}`, image])).values()]
    .sort((a, b) => (`${a.repository}@${a.digest}` < `${b.repository}@${b.digest}` ? -1 : 1))
    .map((image) => ({
      kind: "run",
      argv: [ctx.tools.docker, "image", "rm", `${image.repository}@${image.digest}`],
      purpose: `prune ${image.repository}@${image.digest.slice(0, 19)}… (not among the last ${ctx.keep} versions)`,
    }));
}

/** History after a passed gate: newest first, one record per digest (the same image under another tag counts once, under its newest tag), at most `keep`. */
export function nextHistory(model: StackModel, history: DeployRecord[], now: string, keep: number): DeployRecord[] {
  const ref = imageRefString(model.image);
  if (history[0]?.image === ref) return history.slice(0, keep);
  return [{ image: ref, deployedAt: now }, ...history.filter((record) => digestOf(record.image) !== model.image.digest)].slice(0, keep);
}
