// What the runner writes down between runs, and the one strict schema it is read back with: the project, the last good model, an update in flight, the versions kept.
import YAML from "yaml";
import { z } from "zod";
import { configError, schemaIssue, type ComposeError } from "./errors.ts";
import type { StackModel } from "./model.ts";
import { IMAGE_REF, PROJECT, stackModelSchema } from "./stack-schema.ts";

export interface DeployRecord {
  /** "repository[:tag]@sha256:…" */
  image: string;
  deployedAt: string;
}

export interface DeployState {
  /** The Compose project this state directory belongs to: one directory, one project. */
  project: string;
  /** The model that last passed its health gate here: the rollback target. */
  current: StackModel | null;
  /**
   * An update started (written before the stack is touched, cleared when recorded). If it runs healthy while the
   * record still names `current` (the record could not be written after its gate), it is the real rollback target.
   */
  pending: StackModel | null;
  /** Versions (distinct digests) that passed their health gate here, newest first; only these images are kept locally. */
  history: DeployRecord[];
}

export const digestOf = (image: string): string => image.slice(image.indexOf("@") + 1);

export const deployStateSchema = z
  .strictObject({
    project: z.string().regex(PROJECT),
    current: stackModelSchema.nullable(),
    pending: stackModelSchema.nullable(),
    history: z.array(z.strictObject({ image: z.string().regex(IMAGE_REF, "is not repository[:tag]@sha256:<64 hex>"), deployedAt: z.iso.datetime() })).max(100),
  })
  .superRefine((state, ctx) => {
    for (const key of ["current", "pending"] as const) {
      const model = state[key];
      if (model && model.project !== state.project) ctx.addIssue({ code: "custom", path: [key, "project"], message: `is "${model.project}", not the directory's project "${state.project}"` });
    }
    const digests = state.history.map((record) => digestOf(record.image));
    const repeated = digests.findIndex((digest, i) => digests.indexOf(digest) !== i);
    if (repeated !== -1) ctx.addIssue({ code: "custom", path: ["history", repeated, "image"], message: `repeats the digest of an earlier record` });
  });

export function emptyState(project: string): DeployState {
  return { project, current: null, pending: null, history: [] };
}

export interface StatePaths {
  stateDir: string;
  composeFile: string;
  stateFile: string;
  /** DOCKER_CONFIG of the last pull that succeeded with registry credentials. */
  dockerConfigDir: string;
  /** DOCKER_CONFIG a pull tries new credentials with; promoted to dockerConfigDir only when the pull succeeds. */
  candidateConfigDir: string;
}

export function statePaths(stateDir: string): StatePaths {
  const dir = stateDir.replace(/(.)\/$/, "$1");
  return { stateDir: dir, composeFile: `${dir}/compose.yaml`, stateFile: `${dir}/state.json`, dockerConfigDir: `${dir}/docker`, candidateConfigDir: `${dir}/docker-candidate` };
}

function refuse(file: string, field: string, cause: string): ComposeError {
  return configError(
    `${file} field ${field}`,
    cause,
    `the runner changes nothing while it cannot trust its record; move the file aside (mv ${file} ${file}.bad), then run up with the stack of the version that runs here to record it again`,
  );
}

/** Strict: a state file that does not fit the schema (wrong types, unknown fields, truncated) refuses the run before anything changes. */
export function parseState(text: string | null, file: string): DeployState | null {
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw refuse(file, "(root)", `is not valid JSON (${(error as Error).message})`);
  }
  const parsed = deployStateSchema.safeParse(value);
  if (!parsed.success) {
    const { field, message } = schemaIssue(parsed.error);
    throw refuse(file, field, message);
  }
  return parsed.data as DeployState;
}

const composeNameSchema = z.looseObject({ name: z.string().regex(PROJECT) });

/** The project a compose.yaml written by the runner names (its top-level `name`), or null when it names none readable. */
export function composeProject(text: string | null): string | null {
  if (text === null) return null;
  try {
    const parsed = composeNameSchema.safeParse(YAML.parse(text));
    return parsed.success ? parsed.data.name : null;
  } catch {
    return null;
  }
}

/** The project this state directory is tied to: state.json's, else the name in compose.yaml, else none yet. */
export function recordedProject(state: DeployState | null, composeFile: string | null): { project: string; source: string } | null {
  if (state) return { project: state.project, source: "state.json" };
  const fromCompose = composeProject(composeFile);
  return fromCompose ? { project: fromCompose, source: "compose.yaml" } : null;
}

export function serializeState(state: DeployState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}
