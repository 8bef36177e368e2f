// The journal in the state directory: each step's last outcome and duration, written atomically, validated when read back.
import fs from "node:fs";
import { z } from "zod";
import { readRecordFile } from "./record-file.ts";
import { stateFile } from "./state-files.ts";

export const JournalEntrySchema = z
  .object({
    outcome: z.enum(["done", "unchanged", "failed"]),
    startedAt: z.iso.datetime(),
    durationMs: z.number().int().min(0),
    actions: z.array(z.string()),
    note: z.string().nullable(),
    error: z.record(z.string(), z.unknown()).nullable(),
  })
  .strict();

export const JournalSchema = z
  .object({
    version: z.literal(1),
    steps: z.record(z.string(), JournalEntrySchema),
  })
  .strict();

export type JournalEntry = z.infer<typeof JournalEntrySchema>;
export type Journal = z.infer<typeof JournalSchema>;

/** The journal, or an empty one when none exists yet; a journal that does not fit the schema stops the agent before it changes anything. */
export function readJournal(stateDir: string): Journal {
  const file = stateFile(stateDir, "journal");
  return readRecordFile(file, JournalSchema, "move it aside and re-run") ?? { version: 1, steps: {} };
}

/** Records one step's outcome: a whole new file renamed over the old, so a crash leaves the old journal or the new one. */
export function recordStep(stateDir: string, step: string, entry: JournalEntry): void {
  const journal = readJournal(stateDir);
  journal.steps[step] = JournalEntrySchema.parse(entry);
  fs.mkdirSync(stateDir, { recursive: true });
  const file = stateFile(stateDir, "journal");
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(journal, null, 2)}\n`);
  fs.renameSync(temporary, file);
}
