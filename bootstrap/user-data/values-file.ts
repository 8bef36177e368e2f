// Reads the stack values for `npm run user-data -- --config FILE`: one strict schema, a problem named by its field.
import fs from "node:fs";
import { z } from "zod";
import { STACK_VALUE_NAMES, type StackValues } from "./values.ts";

export const StackValuesSchema = z.strictObject(Object.fromEntries(STACK_VALUE_NAMES.map((name) => [name, z.string().min(1)])) as Record<(typeof STACK_VALUE_NAMES)[number], z.ZodString>);

export function readStackValues(file: string): StackValues {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code ? `cannot read ${file}: ${code}` : `${file} is not JSON: ${(error as Error).message.replace(/\s+/g, " ")}`);
  }
  const parsed = StackValuesSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.code === "unrecognized_keys" ? issue.keys.join(", ") : issue.path.join(".") || "(top level)";
    throw new Error(`${file}: ${field}: ${issue.code === "unrecognized_keys" ? `is not a stack value (those are ${STACK_VALUE_NAMES.join(", ")})` : issue.message}`);
  }
  return parsed.data as StackValues;
}
