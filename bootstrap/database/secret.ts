// The agent's database hand-over: reads RDS's managed secret from Secrets Manager and writes DATABASE_URL to a root-only environment file for the server.
import fs from "node:fs";
import path from "node:path";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { z } from "zod";
import { sdkClientConfig } from "../adapters/sdk-client.ts";

/** What RDS keeps in a master user secret it manages (ManageMasterUserPassword). */
export const DatabaseSecretSchema = z.object({ username: z.string().min(1).max(63), password: z.string().min(1).max(1024) }).strict();
export type DatabaseSecret = z.infer<typeof DatabaseSecretSchema>;

/** host:port as the template's instance tag gives it. */
const ENDPOINT = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?):(\d{1,5})$/i;

export class DatabaseSecretError extends Error {
  override name = "DatabaseSecretError";
}

export interface DatabaseHandOver {
  secretArn: string;
  /** host:port of the database (the instance tag codedetect:databaseEndpoint). */
  endpoint: string;
  region: string;
  /** Where the server will find RDS's CA bundle (verified TLS: sslmode=verify-full). */
  caFile: string;
  /** The root-only file the server's container reads its environment from. */
  envFile: string;
  database?: string;
  /** Secrets Manager endpoint override (tests: moto). */
  awsEndpoint?: string;
}

/** The environment file's text: DATABASE_URL (user and password percent-encoded) and DATABASE_CA_FILE. Pure. */
export function databaseEnvironment(secret: DatabaseSecret, endpoint: string, caFile: string, database = "codedetect"): string {
  const match = ENDPOINT.exec(endpoint);
  if (!match || Number(match[3]) < 1 || Number(match[3]) > 65535) throw new DatabaseSecretError(`database endpoint "${endpoint}" is not host:port`);
  // percent-encode !'()* too: the URL then holds no character an env-file reader could take for quoting
  const encode = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const url = `postgres://${encode(secret.username)}:${encode(secret.password)}@${match[1]}:${match[3]}/${encode(database)}?sslmode=verify-full`;
  return `DATABASE_URL=${url}\nDATABASE_CA_FILE=${caFile}\n`;
}

/** GetSecretValue, validated; errors name the secret's ARN and the reason, never its content. */
export async function readDatabaseSecret(client: SecretsManagerClient, secretArn: string): Promise<DatabaseSecret> {
  let text: string | undefined;
  try {
    text = (await client.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
  } catch (error) {
    throw new DatabaseSecretError(`cannot read the database secret ${secretArn}: ${(error as Error).name}: ${(error as Error).message}`);
  }
  if (text === undefined) throw new DatabaseSecretError(`the database secret ${secretArn} holds no SecretString`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DatabaseSecretError(`the database secret ${secretArn} is not JSON`);
  }
  const parsed = DatabaseSecretSchema.safeParse(value);
  if (!parsed.success) {
    // the issues' paths and kinds only: a message could quote a value, and values here are credentials
    throw new DatabaseSecretError(`the database secret ${secretArn} is not {username, password}: ${parsed.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.code}`).join("; ")}`);
  }
  return parsed.data;
}

/** Written beside its destination with mode 0600, fsynced, then renamed: never readable by others, never half-written. */
export function writeRootOnlyFile(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const partial = `${file}.partial-${process.pid}`;
  const handle = fs.openSync(partial, "w", 0o600);
  try {
    fs.writeSync(handle, text);
    fs.fsyncSync(handle);
  } finally {
    fs.closeSync(handle);
  }
  fs.chmodSync(partial, 0o600);
  fs.renameSync(partial, file);
}

export async function handOverDatabase(options: DatabaseHandOver): Promise<void> {
  const client = new SecretsManagerClient(sdkClientConfig({ region: options.region, endpoint: options.awsEndpoint ?? null, maxAttempts: 3 }));
  try {
    const secret = await readDatabaseSecret(client, options.secretArn);
    writeRootOnlyFile(options.envFile, databaseEnvironment(secret, options.endpoint, options.caFile, options.database));
  } finally {
    client.destroy();
  }
}
