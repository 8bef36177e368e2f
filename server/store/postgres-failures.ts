// Describes what node-postgres threw in words an operator can act on, without the URL or its password; and tells connection faults from one-off failures.

const TLS_UNTRUSTED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

const NETWORK = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE"]);

export interface PgFailure {
  /** The database cannot be reached or used at all now (the server's health fails until an operation succeeds). */
  connection: boolean;
  /** One line, no URL, no password. */
  problem: string;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

/** node-postgres's own messages may carry host:port, never the password; those are kept short and to the point. */
export function describePgError(error: unknown): PgFailure {
  const code = codeOf(error);
  const message = ((error as Error | null)?.message ?? String(error)).split("\n")[0]!;
  if (TLS_UNTRUSTED.has(code)) {
    // Node adds advice about the system's CA store after a ";": not this server's way (DATABASE_CA_FILE is)
    return { connection: true, problem: `the database server's TLS certificate is not trusted (${code}: ${message.split(";")[0]}); check DATABASE_CA_FILE and the URL's host` };
  }
  if (/does not support SSL/i.test(message)) return { connection: true, problem: "the database server does not accept TLS, but sslmode asks for it" };
  if (/no pg_hba.conf entry.*no encryption/i.test(message)) return { connection: true, problem: "the database server requires TLS: set sslmode=verify-full and DATABASE_CA_FILE" };
  if (NETWORK.has(code)) return { connection: true, problem: `the database server cannot be reached (${code}); is it running and reachable from this host?` };
  if (/timeout|timed out/i.test(message)) return { connection: true, problem: "the database server did not answer in time" };
  if (/Connection terminated|connection.*(closed|ended)|Client has encountered a connection error/i.test(message)) {
    return { connection: true, problem: "the connection to the database server was lost" };
  }
  if (code.startsWith("28")) return { connection: true, problem: `the database server refused the credentials (${code}: ${message})` };
  if (code === "3D000") return { connection: true, problem: `the database does not exist (${message})` };
  if (code.startsWith("08") || code.startsWith("53") || code.startsWith("57P") || code === "25006") {
    return { connection: true, problem: `the database server cannot take work now (${code}: ${message})` };
  }
  return { connection: false, problem: code ? `${code}: ${message}` : message };
}
