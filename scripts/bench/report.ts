// Writes one section of BENCHMARKS.md (between markers), leaving the other sections as they are.
import fs from "node:fs";

export function writeSection(file: string, name: string, title: string, command: string, lines: string[]): void {
  const begin = `<!-- bench:${name}:begin -->`;
  const end = `<!-- bench:${name}:end -->`;
  const body = [begin, `## ${title}`, "", `Command: \`${command}\` — run on ${new Date().toISOString().slice(0, 10)}.`, "", ...lines, end].join("\n");
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "# Benchmarks\n";
  const start = current.indexOf(begin);
  const stop = current.indexOf(end);
  const next = start >= 0 && stop > start ? current.slice(0, start) + body + current.slice(stop + end.length) : `${current.trimEnd()}\n\n${body}\n`;
  fs.writeFileSync(file, next);
}
