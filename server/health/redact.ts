// Keeps host paths out of texts shown in HTTP answers: an absolute path is cut to its last component.

const ABSOLUTE_PATH = /(?<![\w.:/])\/(?:[^\s/'"`:;,()<>[\]{}]+\/)*([^\s/'"`:;,()<>[\]{}]*)/g;

/** "/usr/bin/python3 exited" → "python3 exited"; "File \"/srv/app/x.py\", line 3" → "File \"x.py\", line 3". */
export function withoutHostPaths(text: string): string {
  return text.replace(ABSOLUTE_PATH, (_path, last: string) => last || "/");
}
