// Step 4b, database (RDS PostgreSQL only): RDS's CA bundle, pinned by sha256, and a root-only env file with DATABASE_URL from Secrets Manager, both before the stack starts.
import { createHash } from "node:crypto";
import fs from "node:fs";
import type { AgentAction } from "../../compose/actions.ts";
import { sdkClientConfig } from "../adapters/sdk-client.ts";
import { sdkTimeouts, type Config } from "../config.ts";
import type { Step } from "../step.ts";
import { stateFile } from "../state-files.ts";

/** Where the server finds the CA bundle inside its container (bound read-only from the host). */
export const CONTAINER_CA_FILE = "/etc/codedetect/database-ca.pem";

export type DatabaseSeen =
  | {
      configured: false;
      /** Files a previous RDS configuration left (the env file holds credentials no longer needed). */
      leftovers: string[];
    }
  | {
      configured: true;
      /** sha256 of the CA bundle on the host, or null when there is none. */
      caSha256: string | null;
      /** The env file as it should be (holds the password: only ever in a sensitive write). */
      wantedEnv: string;
      /** Whether the env file on the host is exactly that, mode 0600. */
      envCurrent: boolean;
    };

function fileSha256(file: string): string | null {
  try {
    return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

function isCurrent(file: string, wanted: string): boolean {
  try {
    return (fs.statSync(file).mode & 0o777) === 0o600 && fs.readFileSync(file, "utf8") === wanted;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/** Pure: without PostgreSQL, the files an earlier configuration left removed; with it, the CA bundle when missing or not the pinned one, the env file when it differs (a sensitive write: plans and the journal show its size only). */
export function planDatabase(seen: DatabaseSeen, config: Config): AgentAction[] {
  if (!seen.configured) return seen.leftovers.map((file) => ({ kind: "remove", path: file, purpose: "the database is no longer PostgreSQL: its credentials go" }));
  if (config.databaseCaSha256 === null) return [];
  const actions: AgentAction[] = [];
  if (seen.caSha256 !== config.databaseCaSha256) {
    actions.push({ kind: "download", url: config.databaseCaUrl, sha256: config.databaseCaSha256, path: stateFile(config.stateDir, "databaseCa"), mode: 0o644 });
  }
  if (!seen.envCurrent) actions.push({ kind: "write", path: stateFile(config.stateDir, "databaseEnv"), content: seen.wantedEnv, mode: 0o600, sensitive: true });
  return actions;
}

export const databaseStep: Step<DatabaseSeen> = {
  name: "database",
  async observe(ctx) {
    const { databaseSecretArn: secretArn, databaseEndpoint: endpoint, stateDir } = ctx.config;
    if (secretArn === null || endpoint === null) return { configured: false, leftovers: [stateFile(stateDir, "databaseEnv"), stateFile(stateDir, "databaseCa")].filter((file) => fs.existsSync(file)) };
    // loaded only here: an instance on SQLite never loads the Secrets Manager client
    const { readDatabaseSecret, databaseEnvironment } = await import("../database/secret.ts");
    const { SecretsManagerClient } = await import("@aws-sdk/client-secrets-manager");
    const region = ctx.config.region ?? ctx.identity?.region;
    if (!region || region === "local") throw new Error("no region for Secrets Manager: set region (CODEDETECT_REGION) in local mode");
    const client = new SecretsManagerClient(sdkClientConfig({ region, endpoint: ctx.config.awsEndpoint, maxAttempts: 3, timeouts: sdkTimeouts(ctx.config) }));
    try {
      const secret = await readDatabaseSecret(client, secretArn);
      const wantedEnv = databaseEnvironment(secret, endpoint, CONTAINER_CA_FILE);
      return { configured: true, caSha256: fileSha256(stateFile(stateDir, "databaseCa")), wantedEnv, envCurrent: isCurrent(stateFile(stateDir, "databaseEnv"), wantedEnv) };
    } finally {
      client.destroy();
    }
  },
  plan: planDatabase,
};
