// The messages between the server's event loop and the database thread (server/store/sqlite-worker.ts).
import type { Operations } from "./sqlite-operations.ts";
import type { DatabaseCondition, Stats } from "./store.ts";

export type OperationName = keyof Operations;

export type Request =
  /** Opens (creating it only when `create`), checks and migrates the file; answers with an OpenedAnswer. */
  | { id: number; kind: "open"; create: boolean; deadline: number }
  | { id: number; kind: "operation"; operation: OperationName; args: unknown[]; deadline: number }
  | { id: number; kind: "close" };

export interface OpenedAnswer {
  schema: { from: number; to: number };
  /** The statistics as of opening (trend of INITIAL_TREND_LENGTH), so a locked database can still be answered for. */
  stats: Stats;
}

export const INITIAL_TREND_LENGTH = 10;

export type FailureKind = "locked" | "missing" | "corrupt" | "broken" | "failed" | "closed";

export type Message =
  | { type: "reply"; id: number; ok: true; value: unknown }
  | { type: "reply"; id: number; ok: false; failure: FailureKind; message: string }
  | { type: "condition"; condition: DatabaseCondition }
  /** For the server's log only (it may name the file): never shown in an HTTP answer. */
  | { type: "log"; level: "info" | "warn" | "error"; msg: string; fields: Record<string, unknown> };
