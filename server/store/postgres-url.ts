// Turns DATABASE_URL (+ DATABASE_CA_FILE) into node-postgres connection settings, honouring sslmode; and names the database without its password.
import fs from "node:fs";
import type { ConnectionOptions } from "node:tls";
import type { ClientConfig } from "pg";
import { z } from "zod";

export class DatabaseUrlError extends Error {
  override name = "DatabaseUrlError";
}

const SSL_MODES = ["disable", "require", "verify-ca", "verify-full"] as const;
type SslMode = (typeof SSL_MODES)[number];

/** The query parameters accepted in DATABASE_URL; anything else is refused rather than silently ignored. */
const QUERY = z
  .object({
    sslmode: z.enum(SSL_MODES, { error: `sslmode must be one of ${SSL_MODES.join(", ")} (prefer/allow would fall back to plain text silently)` }).optional(),
    application_name: z.string().max(63).optional(),
  })
  .strict();

export interface DatabaseTarget {
  /** What may be logged and shown: scheme://user@host:port/database, never the password. */
  described: string;
  sslMode: SslMode;
  config: ClientConfig;
}

function parseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseUrlError("is not a URL (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new DatabaseUrlError(`must start with postgres:// or postgresql://, got ${parsed.protocol}//`);
  }
  if (!parsed.hostname) throw new DatabaseUrlError("has no host (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)");
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (!database || database.includes("/")) throw new DatabaseUrlError("must name one database after the host (…/DATABASE)");
  if (!parsed.username) throw new DatabaseUrlError("has no user name (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)");
  return parsed;
}

/** The URL without its password, for logs and error lines. Never throws: an unparsable URL is named as such. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = parseUrl(url);
    return `${parsed.protocol}//${decodeURIComponent(parsed.username)}@${parsed.host}${parsed.pathname}`;
  } catch {
    return "(DATABASE_URL, unparsable)";
  }
}

/** Checks the URL's shape without reading files: for configuration loading (exit 2 on a bad value). */
export function validateDatabaseUrl(url: string): void {
  const parsed = parseUrl(url);
  const query = QUERY.safeParse(Object.fromEntries(parsed.searchParams));
  if (!query.success) throw new DatabaseUrlError(`has a bad query: ${query.error.issues.map((issue) => (issue.path.length ? `${issue.path.join(".")}: ` : "") + issue.message).join("; ")}`);
}

/**
 * The connection settings. sslmode as libpq means it: disable (plain), require (encrypted; verified against the CA
 * file when one is given, as libpq does with a root certificate), verify-ca (chain only), verify-full (chain and host
 * name). Without sslmode: verify-full when a CA file is given, plain otherwise.
 */
export function databaseTarget(url: string, caFile: string | null): DatabaseTarget {
  validateDatabaseUrl(url);
  const parsed = parseUrl(url);
  const query = QUERY.parse(Object.fromEntries(parsed.searchParams));
  const sslMode: SslMode = query.sslmode ?? (caFile ? "verify-full" : "disable");
  if (sslMode === "disable" && caFile) throw new DatabaseUrlError("has sslmode=disable but DATABASE_CA_FILE is set: choose one");
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = fs.readFileSync(caFile, "utf8");
    } catch (error) {
      throw new DatabaseUrlError(`DATABASE_CA_FILE ${caFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) throw new DatabaseUrlError(`DATABASE_CA_FILE ${caFile} holds no PEM certificate`);
  }
  let ssl: ConnectionOptions | false = false;
  if (sslMode === "require") ssl = ca ? { ca, rejectUnauthorized: true } : { rejectUnauthorized: false };
  if (sslMode === "verify-ca") ssl = { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  if (sslMode === "verify-full") ssl = { ca, rejectUnauthorized: true };
  return {
    described: describeDatabaseUrl(url),
    sslMode,
    config: {
      host: parsed.hostname.replace(/^\[|\]$/g, ""),
      port: parsed.port ? Number(parsed.port) : 5432,
      user: decodeURIComponent(parsed.username),
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
      database: decodeURIComponent(parsed.pathname.slice(1)),
      application_name: query.application_name ?? "codedetect",
      ssl,
    },
  };
}
