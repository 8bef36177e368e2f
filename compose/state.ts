// What the runner writes down between runs: the model last seen healthy (what a rollback restores) and the versions kept.
import type { StackModel } from "./model.ts";

export interface DeployRecord {
  /** "repository:tag@sha256:…" */
  image: string;
  deployedAt: string;
}

export interface DeployState {
  /** The model that last passed its health gate here: the rollback target. */
  current: StackModel | null;
  /** Versions that passed their health gate here, newest first; only these images are kept locally. */
  history: DeployRecord[];
}

export const EMPTY_STATE: DeployState = { current: null, history: [] };

export interface StatePaths {
  stateDir: string;
  composeFile: string;
  stateFile: string;
  /** DOCKER_CONFIG for pulls when registry credentials are configured. */
  dockerConfigDir: string;
}

export function statePaths(stateDir: string): StatePaths {
  const dir = stateDir.replace(/(.)\/$/, "$1");
  return { stateDir: dir, composeFile: `${dir}/compose.yaml`, stateFile: `${dir}/state.json`, dockerConfigDir: `${dir}/docker` };
}

export function parseState(text: string | null, file: string): DeployState {
  if (text === null) return EMPTY_STATE;
  try {
    const value = JSON.parse(text) as Partial<DeployState>;
    return { current: value.current ?? null, history: Array.isArray(value.history) ? value.history : [] };
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message}); move it aside to start over`);
  }
}

export function serializeState(state: DeployState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}
