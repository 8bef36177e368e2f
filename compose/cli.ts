// Operator CLI for the stack runner: `npm run compose -- up|pull|replace|status|down|render --stack FILE [--dry-run]`.
import fs from "node:fs";
import { parseArgs } from "node:util";
import { ComposeError, configError } from "./errors.ts";
import { defineStack, type StackInput, type StackModel } from "./model.ts";
import { readAuthFile } from "./credentials.ts";
import { renderCompose } from "./render.ts";
import { observeFiles } from "./observe.ts";
import { createRunner } from "./runner.ts";
import { statePaths } from "./state.ts";

const USAGE = `usage: npm run compose -- <command> [options]
commands:
  render   print compose.yaml for the stack
  pull     pull the stack's image by digest (retried)
  up       pull, start, wait for health; roll back to the last good version on failure
  replace  the recorded version in a new container (re-reads compose.yaml's env_file): started beside
           the old one, gated on its health, then the old one hands over and stops (what supervise's
           restart and database-secret refresh do)
  status   services, health and image digests as JSON
  down     stop and remove the stack's containers
options:
  --stack FILE        stack description (JSON: image, efsRoot, …; see compose/model.ts StackInput)
  --image REF         override the stack's image (repository[:tag]@sha256:…)
  --project NAME      project for status/down without --stack (default: the one the state directory records)
  --state-dir DIR     where compose.yaml and state.json live (default /var/lib/codedetect, env COMPOSE_STATE_DIR)
                      (one up/down at a time per host: lock in COMPOSE_LOCK_DIR, default /run/lock/codedetect)
  --auth-file FILE    registry credentials (JSON: registry, username, password; mode 0600)
  --health-deadline S seconds the new version may take to turn healthy
  --since TIME        replace: the ISO time of the replace to continue after an interruption (default now)
  --dry-run           print the plan, change nothing
  --json              errors as one JSON object`;

function loadStack(values: { stack?: string; image?: string }): StackModel {
  if (!values.stack) throw configError("stack", "no stack description given", "pass --stack FILE (JSON with at least image and efsRoot)");
  let input: unknown;
  try {
    input = JSON.parse(fs.readFileSync(values.stack, "utf8"));
  } catch (error) {
    throw configError(`stack file ${values.stack}`, (error as Error).message, "pass a readable JSON file with --stack");
  }
  try {
    const withImage = values.image && input !== null && typeof input === "object" && !Array.isArray(input) ? { ...input, image: values.image } : input;
    return defineStack(withImage);
  } catch (error) {
    if (error instanceof ComposeError) {
      const source = values.image && error.what === "image" ? "--image" : `stack file ${values.stack} field ${error.what}`;
      throw new ComposeError({ what: source, cause: error.cause, next: error.next, errorClass: error.errorClass });
    }
    throw error;
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      stack: { type: "string" },
      image: { type: "string" },
      project: { type: "string" },
      "state-dir": { type: "string" },
      "auth-file": { type: "string" },
      "health-deadline": { type: "string" },
      since: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...extra] = positionals;
  // "down other-project" or "up stack.json" would otherwise act on the recorded project or ask for --stack: refuse
  if (command && extra.length > 0 && !values.help) throw configError(`argument "${extra[0]}"`, `unexpected after the command ${command}`, "pass the stack as --stack FILE and the project as --project NAME (--help)");
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const stateDir = values["state-dir"] ?? process.env.COMPOSE_STATE_DIR ?? "/var/lib/codedetect";
  // "" would put state.json and compose.yaml in whatever directory the runner happens to start in
  if (stateDir.trim() === "") throw configError("--state-dir", "is empty (from --state-dir or COMPOSE_STATE_DIR)", "pass the state directory, e.g. --state-dir /var/lib/codedetect");
  stopOnSignals(command, stateDir, values.json);
  const deadline = values["health-deadline"] === undefined ? undefined : Number(values["health-deadline"]) * 1000;
  if (deadline !== undefined && !(deadline > 0 && deadline <= 86_400_000)) throw configError("--health-deadline", `"${values["health-deadline"]}" is not a number of seconds`, "pass e.g. --health-deadline 90");
  const runner = createRunner({
    stateDir,
    composeBin: process.env.COMPOSE_BIN,
    auth: values["auth-file"] === undefined ? null : readAuthFile(values["auth-file"]),
    ...(deadline ? { healthDeadlineMs: deadline } : {}),
    dryRun: values["dry-run"],
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  const project = () => values.project ?? (values.stack ? loadStack(values).project : undefined);
  switch (command) {
    case "render":
      process.stdout.write(renderCompose(loadStack(values)));
      return 0;
    case "pull":
      await runner.pull(loadStack(values));
      return 0;
    case "up": {
      const result = await runner.up(loadStack(values));
      print({ image: result.image, changed: result.changed, dryRun: values["dry-run"] });
      return 0;
    }
    case "replace": {
      const since = values.since;
      if (since !== undefined && !(/^\d{4}-\d\d-\d\dT/.test(since) && Number.isFinite(Date.parse(since)))) throw configError("--since", `"${since}" is not an ISO time`, "pass e.g. --since 2026-01-01T12:00:00Z (the time the interrupted replace printed)");
      const model = (await observeFiles(statePaths(stateDir))).state?.current;
      if (!model) throw configError("replace", `${stateDir} records no version that passed its health gate`, "run up first");
      const result = await runner.replace(model, "asked for on the command line", since);
      print({ project: model.project, replaced: result.actions.length > 0, dryRun: values["dry-run"] });
      return 0;
    }
    case "status":
      print(await runner.status(project()));
      return 0;
    case "down": {
      const result = await runner.down(project());
      if (result.actions.length === 0) process.stderr.write(`nothing to do: project ${result.project} has no containers\n`);
      return 0;
    }
    default:
      throw configError(`command "${command}"`, "unknown", `use one of render, pull, up, replace, status, down (--help)`);
  }
}

/**
 * Ctrl-C or a service manager's stop in the middle of a command: Node's default would end the process without a word
 * (and leave `docker compose` running). Say what was interrupted and how to continue, in the error's usual form, and
 * exit 128+signal; the lock left behind is taken over by the next run (its holder is gone).
 */
function stopOnSignals(command: string, stateDir: string, json: boolean): void {
  const changes = command === "up" || command === "down" || command === "pull" || command === "replace";
  for (const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const) {
    process.once(signal, () => {
      const error = new ComposeError({
        what: command,
        cause: `interrupted by ${signal}${command === "up" ? "; the stack may be between versions" : ""}`,
        next: changes ? `re-run the same command: it continues from the record in ${stateDir} (an unfinished update completes or rolls back)` : "re-run the command",
      });
      process.stderr.write(json ? `${JSON.stringify({ ...error.toJSON(), class: "interrupted" })}\n` : `compose: ${error.message}\n`);
      process.exit(128 + number); // 'exit' also ends the docker commands still running (execa's cleanup)
    });
  }
}

/** Every error, ours or not, as one line (or one JSON object with --json); exit 2 for configuration, 1 for a failed step. */
function report(error: unknown, json: boolean): number {
  const parseError = (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;
  const composeError =
    error instanceof ComposeError
      ? error
      : new ComposeError({
          what: parseError ? "arguments" : "compose",
          cause: (error as Error).message ?? String(error),
          next: parseError ? "see --help" : "this is a bug in the runner: report it with the command line",
          errorClass: parseError ? "config" : "step",
        });
  if (json) process.stderr.write(`${JSON.stringify(composeError)}\n`);
  else process.stderr.write(`compose: ${composeError.message}\n${composeError.details.map((line) => `  ${line}\n`).join("")}`);
  return composeError.exitCode;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.exitCode = report(error, process.argv.slice(2).includes("--json"));
}
