// The name the tools see for an upload: the client's file name as a bare name (never a server path, never the storage hash).

const NAME_MAX_BYTES = 255; // longest file name Linux accepts; bandit and radon read the code from a file of this name
const FALLBACK = "upload.py";

/**
 * The client's name without any directory part ("C:\\x\\main.py" and "../main.py" give "main.py") and with
 * control characters replaced by "_". A name too long for a file is shortened, keeping its ".py" ending.
 * pylint derives the module name from it exactly as for a file of that name (so "my-file.py" is linted as
 * module "my-file" and gets pylint's invalid-name message, as the user would from the command line).
 */
export function toolFileName(clientName: string): string {
  // eslint-disable-next-line no-control-regex
  let name = (clientName.split(/[\\/]/).pop() ?? "").replace(/[\u0000-\u001f\u007f]/g, "_");
  if (name === "" || name === "." || name === "..") return FALLBACK;
  const encoder = new TextEncoder();
  if (encoder.encode(name).length > NAME_MAX_BYTES) {
    const suffix = name.toLowerCase().endsWith(".py") ? name.slice(-3) : "";
    let stem = name.slice(0, name.length - suffix.length);
    while (encoder.encode(stem + suffix).length > NAME_MAX_BYTES) stem = Array.from(stem).slice(0, -1).join("");
    name = stem + suffix;
  }
  return name;
}
