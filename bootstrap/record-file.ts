// Reads back one JSON record the agent wrote (journal, identity, signal, local image, migration records) through its schema: absent is null, anything that does not fit stops the agent.
import fs from "node:fs";
import type { z } from "zod";

/**
 * Reads `file` and validates it with `schema`. A missing file is null; a file that is not JSON or does not fit the schema
 * throws one line naming the file, the field at fault and `remedy` (what the operator does next). It is never guessed at.
 */
export function readRecordFile<T>(file: string, schema: z.ZodType<T>, remedy: string): T | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    // EISDIR, EACCES, ENOTDIR: Node's message does not always name the file ("EISDIR: illegal operation on a directory, read")
    throw new Error(`${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ${remedy}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not JSON (${(error as Error).message}); ${remedy}`);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file} does not fit its schema at ${issue.path.join(".") || "(top level)"}: ${issue.message}; ${remedy}`);
  }
  return parsed.data;
}
