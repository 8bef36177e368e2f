// Operator CLI for the stack runner: `npm run compose -- up|pull|status|down|render --stack FILE [--dry-run]`.
import fs from "node:fs";
import { parseArgs } from "node:util";
import { ComposeError, configError } from "./errors.ts";
import { defineStack, type StackInput, type StackModel } from "./model.ts";
import type { RegistryAuth } from "./plan.ts";
import { renderCompose } from "./render.ts";
import { createRunner } from "./runner.ts";

const USAGE = `usage: npm run compose -- <command> [options]
commands:
  render   print compose.yaml for the stack
  pull     pull the stack's image by digest (retried)
  up       pull, start, wait for health; roll back to the last good version on failure
  status   services, health and image digests as JSON
  down     stop and remove the stack's containers
options:
  --stack FILE        stack description (JSON: image, efsRoot, …; see compose/model.ts StackInput)
  --image REF         override the stack's image (repository:tag@sha256:…)
  --project NAME      project for status/down without --stack (default codedetect)
  --state-dir DIR     where compose.yaml and state.json live (default /var/lib/codedetect, env COMPOSE_STATE_DIR)
  --auth-file FILE    registry credentials (JSON: registry, username, password)
  --health-deadline S seconds the new version may take to turn healthy
  --dry-run           print the plan, change nothing
  --json              errors as one JSON object`;

function readJson<T>(file: string, what: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch (error) {
    throw configError(`read ${what} ${file}`, (error as Error).message, `pass a readable JSON file with --${what}`);
  }
}

function loadStack(values: { stack?: string; image?: string }): StackModel {
  if (!values.stack) throw configError("stack", "no stack description given", "pass --stack FILE (JSON with at least image and efsRoot)");
  const input = readJson<StackInput>(values.stack, "stack");
  return defineStack(values.image ? { ...input, image: values.image } : input);
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
      "dry-run": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const deadline = values["health-deadline"] === undefined ? undefined : Number(values["health-deadline"]) * 1000;
  if (deadline !== undefined && !(deadline > 0)) throw configError("--health-deadline", `"${values["health-deadline"]}" is not a number of seconds`, "pass e.g. --health-deadline 90");
  const runner = createRunner({
    stateDir: values["state-dir"] ?? process.env.COMPOSE_STATE_DIR ?? "/var/lib/codedetect",
    composeBin: process.env.COMPOSE_BIN,
    auth: values["auth-file"] ? readJson<RegistryAuth>(values["auth-file"], "auth-file") : null,
    ...(deadline ? { healthDeadlineMs: deadline } : {}),
    dryRun: values["dry-run"],
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  const project = () => values.project ?? (values.stack ? loadStack(values).project : "codedetect");
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
    case "status":
      print(await runner.status(project()));
      return 0;
    case "down":
      if ((await runner.down(project())).length === 0) process.stderr.write(`nothing to do: ${project()} has no containers\n`);
      return 0;
    default:
      throw configError(`command "${command}"`, "unknown", `use one of render, pull, up, status, down (--help)`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const json = process.argv.includes("--json");
  if (error instanceof ComposeError) {
    if (json) process.stderr.write(`${JSON.stringify(error)}\n`);
    else process.stderr.write(`compose: ${error.message}\n${error.details.map((line) => `  ${line}\n`).join("")}`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`compose: ${(error as Error).message}\n`);
    process.exitCode = (error as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? 2 : 1;
  }
}
