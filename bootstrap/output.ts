// What the agent tells people: readable progress lines on a terminal, or pino JSON lines (--json, journald, CloudWatch).
import pino from "pino";
import type { Failure } from "./errors.ts";
import type { StepReport } from "./step.ts";

export interface Output {
  info(message: string, fields?: Record<string, unknown>): void;
  plan(step: string, text: string): void;
  stepStarted(step: string, actionCount: number): void;
  stepFinished(report: StepReport): void;
  failure(failure: Failure): void;
}

export function createOutput(json: boolean, write: (text: string) => void = (text) => process.stdout.write(text)): Output {
  if (json) {
    const logger = pino({ base: { agent: "codedetect-bootstrap" }, timestamp: pino.stdTimeFunctions.isoTime }, { write });
    return {
      info: (message, fields) => logger.info(fields ?? {}, message),
      plan: (step, text) => logger.info({ step, plan: text.split("\n") }, "plan"),
      stepStarted: (step, actionCount) => logger.info({ step, actions: actionCount }, "step started"),
      stepFinished: (report) => logger.info({ ...report }, "step finished"),
      failure: (failure) => logger.error(failure.json, String(failure.json.error ?? failure.line)),
    };
  }
  const err = (text: string) => process.stderr.write(text);
  return {
    info: (message) => write(`${message}\n`),
    plan: (step, text) => write(`${step}:\n${text.replace(/^/gm, "  ")}\n`),
    stepStarted: (step, actionCount) => {
      if (actionCount > 0) write(`${step}: ${actionCount} action${actionCount === 1 ? "" : "s"}\n`);
    },
    stepFinished: (report) => write(`${report.step}: ${report.outcome} (${(report.durationMs / 1000).toFixed(1)} s)${report.note ? ` — ${report.note}` : ""}\n`),
    failure: (failure) => err(`${failure.line}\n`),
  };
}
