// The name the tools see for an upload: the client's file name as a bare name (never a server path, never the storage hash).

// bandit and radon read the code from a file of this name (Linux takes 255 bytes), and pylint 2 opens
// "<name>_1.stats" in its home even with --persistent=n: 200 leaves room for that
const NAME_MAX_BYTES = 200;
const FALLBACK = "upload.py";

/**
 * The client's name without any directory part ("C:\\x\\main.py" and "../main.py" give "main.py") and with
 * control characters replaced by "_". A name too long for a file is shortened, keeping its ".py" ending.
 * pylint derives the module name from it exactly as for a file of that name (so "my-file.py" is linted as
 * module "my-file" and gets pylint's invalid-name message, as the user would from the command line).
 */
export function toolFileName(clientName: string): string {
  const name = (clientName.split(/[\\/]/).pop() ?? "").replace(/[\u0000-\u001f\u007f]/g, "_");
  if (name === "" || name === "." || name === "..") return FALLBACK;
  if (Buffer.byteLength(name) <= NAME_MAX_BYTES) return name;
  const suffix = name.toLowerCase().endsWith(".py") ? name.slice(-3) : "";
  let stem = "";
  for (const character of name.slice(0, name.length - suffix.length)) {
    if (Buffer.byteLength(stem + character + suffix) > NAME_MAX_BYTES) break;
    stem += character;
  }
  return stem + suffix;
}
