// Errors people can act on: the step, the action that failed, the underlying error and what to do next; exit 2 for configuration, 1 for a step.
import { ComposeError } from "../compose/errors.ts";
import { ConfigProblem } from "./config.ts";

export class StepError extends Error {
  override name = "StepError";
  readonly step: string;
  readonly action: string;
  override readonly cause: string;
  readonly next: string;
  readonly details: string[];
  constructor(fields: { step: string; action: string; cause: string; next: string; details?: string[] }) {
    super(`step ${fields.step}: ${fields.action}: ${fields.cause}; next: ${fields.next}`);
    this.step = fields.step;
    this.action = fields.action;
    this.cause = fields.cause;
    this.next = fields.next;
    this.details = fields.details ?? [];
  }
  toJSON(): Record<string, unknown> {
    return { class: "step", step: this.step, action: this.action, cause: this.cause, next: this.next, details: this.details };
  }
}

/** Whatever was thrown inside a step, as a StepError naming that step and the action. */
export function asStepError(step: string, action: string, error: unknown, next = "fix the cause and re-run `npm run bootstrap`; completed steps are not repeated"): StepError {
  if (error instanceof StepError) return error;
  if (error instanceof ComposeError) return new StepError({ step, action: error.what || action, cause: error.cause, next: error.next, details: error.details });
  return new StepError({ step, action, cause: (error as Error)?.message ?? String(error), next });
}

export interface Failure {
  exitCode: 1 | 2;
  line: string;
  json: Record<string, unknown>;
}

export function describeFailure(error: unknown): Failure {
  if (error instanceof ConfigProblem) {
    return { exitCode: 2, line: `bootstrap: bad configuration: ${error.message}`, json: { class: "config", field: error.field, error: error.message } };
  }
  if (error instanceof StepError) {
    return { exitCode: 1, line: `bootstrap: ${error.message}`, json: error.toJSON() };
  }
  const step = asStepError("(agent)", "run", error, "this is a bug in the agent: report it with the log");
  return { exitCode: 1, line: `bootstrap: ${step.message}`, json: step.toJSON() };
}
