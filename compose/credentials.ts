// Registry credentials from --auth-file: one strict schema, and a file others can read is refused before it is used.
import fs from "node:fs";
import { z } from "zod";
import { configError, schemaIssue } from "./errors.ts";
import type { RegistryAuth } from "./plan.ts";

/** A registry host as Docker names it: a DNS name or IPv4 address, optionally with a port (no scheme, no path). */
const REGISTRY_HOST = /^[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::\d{1,5})?$/;

export const registryAuthSchema = z.strictObject({
  registry: z.string().regex(REGISTRY_HOST, 'is not a registry host; use e.g. "123456789012.dkr.ecr.eu-west-1.amazonaws.com" or "127.0.0.1:5000"'),
  username: z.string().min(1, "is empty"),
  password: z.string().min(1, "is empty"),
});

export function parseRegistryAuth(value: unknown, file: string): RegistryAuth {
  const parsed = registryAuthSchema.safeParse(value);
  if (!parsed.success) {
    const { field, message } = schemaIssue(parsed.error);
    throw configError(`auth file ${file} field ${field}`, message, 'write it as {"registry": "host[:port]", "username": "…", "password": "…"}');
  }
  return parsed.data;
}

/** Reads and validates --auth-file; a file that group or others may read (or write) is refused: the fix is `chmod 600`. */
export function readAuthFile(file: string): RegistryAuth {
  let text: string;
  let mode: number;
  try {
    mode = fs.statSync(file).mode;
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw configError(`auth file ${file}`, (error as Error).message, "pass a readable JSON file with --auth-file");
  }
  if ((mode & 0o077) !== 0) {
    throw configError(`auth file ${file}`, `holds a password and is accessible to others (mode ${(mode & 0o777).toString(8).padStart(4, "0")})`, `chmod 600 ${file}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw configError(`auth file ${file}`, `is not valid JSON (${(error as Error).message})`, 'write it as {"registry": "host[:port]", "username": "…", "password": "…"}');
  }
  return parseRegistryAuth(value, file);
}
