// Where the agent keeps what it records in its state directory: one name per file, beside compose/'s own (compose/state.ts).
import path from "node:path";

/** Each file the agent writes in its state directory, by what it holds. */
export const AGENT_FILES = {
  /** identify: the instance's identity (identify.ts). */
  identity: "identity.json",
  /** signal: what was signalled to CloudFormation, and its outcome (steps/signal.ts). */
  signal: "signal.json",
  /** launch: the lifecycle action completed (steps/launch.ts). */
  launch: "launch.json",
  /** every step's outcome, newest last (journal.ts). */
  journal: "journal.json",
  /** --local: the image built from the working tree, pinned by digest (stack.ts). */
  localImage: "local-image.json",
  /** the configuration the last run used, for supervise and status (recorded-config.ts). */
  config: "config.json",
  /** database: the PostgreSQL credentials, mode 0600 (steps/database.ts). */
  databaseEnv: "database.env",
  /** database: the CA bundle the server verifies PostgreSQL's certificate with. */
  databaseCa: "database-ca.pem",
} as const;

export type AgentFile = keyof typeof AGENT_FILES;

/** The path of one of the agent's files in a state directory. */
export function stateFile(stateDir: string, file: AgentFile): string {
  return path.join(stateDir, AGENT_FILES[file]);
}
