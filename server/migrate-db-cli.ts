// `npm run migrate-db -- --from DATA_DIR --to postgres://… [--catch-up]`: copies the SQLite database into PostgreSQL (see server/store/README.md).
// Exit 0: copied, already there, or caught up; 1: refused or failed (one line, nothing written); 2: usage.
import { parseArgs } from "node:util";
import pg from "pg";
import { databaseFile } from "./paths.ts";
import { catchUp, copyAll, VerificationError, type Outcome } from "./store/migrate-copy.ts";
import { snapshotSqlite, SourceError, type Snapshot } from "./store/migrate-source.ts";
import { describePgError } from "./store/postgres-failures.ts";
import { databaseTarget, DatabaseUrlError, type DatabaseTarget } from "./store/postgres-url.ts";

const USAGE = "usage: npm run migrate-db -- --from DATA_DIR --to postgres://USER:PASSWORD@HOST:PORT/DATABASE [--ca-file FILE] [--catch-up]";

function fail(message: string, code = 1): never {
  process.stderr.write(`codedetect migrate-db: ${message}\n`);
  process.exit(code);
}

let options: { from: string; to: string; caFile: string | null; catchUp: boolean };
try {
  const { values } = parseArgs({
    options: { from: { type: "string" }, to: { type: "string" }, "ca-file": { type: "string" }, "catch-up": { type: "boolean", default: false } },
    strict: true,
    allowPositionals: false,
  });
  const to = values.to ?? process.env.DATABASE_URL;
  if (!values.from) fail(`--from DATA_DIR is required; ${USAGE}`, 2);
  if (!to) fail(`--to (or DATABASE_URL) is required; ${USAGE}`, 2);
  options = { from: values.from, to, caFile: values["ca-file"] ?? process.env.DATABASE_CA_FILE ?? null, catchUp: values["catch-up"] };
} catch (error) {
  fail(`${(error as Error).message}; ${USAGE}`, 2);
}

let target: DatabaseTarget;
try {
  target = databaseTarget(options.to, options.caFile);
} catch (error) {
  // the URL itself is never repeated: it may hold a password
  if (error instanceof DatabaseUrlError) fail(`--to ${error.message}`, 2);
  throw error;
}

const say = (line: string) => process.stdout.write(`${line}\n`);

let snapshot: Snapshot;
try {
  snapshot = await snapshotSqlite(databaseFile(options.from));
} catch (error) {
  if (error instanceof SourceError) fail(error.message);
  throw error;
}
if (snapshot.upgradedFrom !== null) say(`read ${databaseFile(options.from)} at schema version ${snapshot.upgradedFrom} through a private copy brought to the current schema (the file itself is unchanged)`);
const client = new pg.Client(target.config);
client.on("error", () => undefined); // a lost connection fails the query in flight, which is reported below
let outcome: Outcome | undefined;
let problem: string | undefined;
try {
  await client.connect();
  outcome = await (options.catchUp ? catchUp : copyAll)(client, snapshot, say);
} catch (error) {
  problem = error instanceof VerificationError ? error.message : describePgError(error).problem;
} finally {
  snapshot.close();
  await client.end().catch(() => undefined);
}
if (!outcome) fail(`${options.catchUp ? "catch-up" : "copy"} into ${target.described} failed, nothing was written: ${problem}`);

switch (outcome.kind) {
  case "refused":
    fail(`${target.described}: ${outcome.reason}`);
  case "copied": {
    const f = outcome.figures;
    say(`copied ${f.analyses} analyses, ${f.results} results and ${f.reports} reports into ${target.described} in one transaction`);
    say(`verified on both sides: analyses ${f.analyses}, score sum ${f.scoreSum}, security issues ${f.securitySum}, quality issues ${f.qualitySum}, complexity issues ${f.complexitySum}, totals row equal`);
    break;
  }
  case "already":
    say(`already migrated: ${target.described} holds this copy (made ${outcome.copiedAt}, analyses up to id ${outcome.analyses}); nothing copied`);
    if (outcome.pending > 0) say(`${outcome.pending} analyses were written to SQLite since: run with --catch-up once every server uses DATABASE_URL`);
    break;
  case "caught-up":
    say(outcome.analyses + outcome.reports === 0
      ? `nothing to catch up: ${target.described} already holds every SQLite analysis and report`
      : `caught up: ${outcome.analyses} analyses and ${outcome.reports} reports written to SQLite since the copy added to ${target.described} (results merged: ${outcome.results}); verified`);
    break;
}
