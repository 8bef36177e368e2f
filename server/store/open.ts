// Opens the store the configuration chooses: PostgreSQL when DATABASE_URL is set, SQLite under DATA_DIR otherwise.
import path from "node:path";
import type { ServerConfig } from "../config.ts";
import { databaseFile } from "../paths.ts";
import { openPostgresStore } from "./postgres.ts";
import { databaseTarget, describeDatabaseUrl } from "./postgres-url.ts";
import { openSqliteStore, type StoreLogger } from "./sqlite.ts";
import type { Store } from "./store.ts";

export type Backend = "sqlite" | "postgresql";

export interface OpenedStore {
  store: Store;
  backend: Backend;
  schema: { from: number; to: number };
}

/** Why the store could not be opened, in one line that names the database but never a password. */
export class StoreOpenError extends Error {
  override name = "StoreOpenError";
}

type Settings = Pick<ServerConfig, "dataDir" | "dbBusyRetrySeconds" | "databaseUrl" | "databaseCaFile" | "databasePoolSize">;

export async function openConfiguredStore(config: Settings, logger?: StoreLogger): Promise<OpenedStore> {
  const deadlineMs = config.dbBusyRetrySeconds * 1000;
  if (config.databaseUrl !== null) {
    const described = describeDatabaseUrl(config.databaseUrl);
    try {
      const target = databaseTarget(config.databaseUrl, config.databaseCaFile);
      const store = await openPostgresStore({ target, poolSize: config.databasePoolSize, deadlineMs, logger });
      return { store, backend: "postgresql", schema: store.schema };
    } catch (error) {
      throw new StoreOpenError(`cannot use the PostgreSQL database ${described}: ${(error as Error).message}`);
    }
  }
  const file = databaseFile(config.dataDir);
  try {
    const store = await openSqliteStore({ file, busyDeadlineMs: deadlineMs, logger });
    return { store, backend: "sqlite", schema: store.schema };
  } catch (error) {
    throw new StoreOpenError(`cannot use the database under ${config.dataDir}: ${path.relative(config.dataDir, file)}: ${(error as Error).message}`);
  }
}
