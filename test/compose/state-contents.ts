// A fast-check generator of what a state directory's state.json may hold after careless or hostile hands.
import fc from "fast-check";
import { serializeState, type DeployState } from "../../compose/state.ts";

/** Whatever state.json holds: missing, random JSON, random text, truncated, one field replaced, another project, valid. */
export function stateContents(valid: DeployState): fc.Arbitrary<string | null> {
  const text = serializeState(valid);
  const otherProject = { ...valid, project: "other", current: valid.current && { ...valid.current, project: "other" } };
  return fc.oneof(
    fc.constant(null),
    fc.json(),
    fc.string(),
    fc.nat({ max: text.length - 1 }).map((n) => text.slice(0, n)),
    fc.tuple(fc.constantFrom("project", "current", "pending", "history", "extra"), fc.jsonValue()).map(([key, value]) => JSON.stringify({ ...valid, [key]: value })),
    fc.constant(JSON.stringify(otherProject)),
    fc.constant(text),
  );
}
