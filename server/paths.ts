// Where the server keeps its data under DATA_DIR: the one place these names are spelled.
import path from "node:path";

export function databaseFile(dataDir: string): string {
  return path.join(dataDir, "database", "codedetect.db");
}

export function uploadsDir(dataDir: string): string {
  return path.join(dataDir, "uploads");
}
