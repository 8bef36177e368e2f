// Real-world Python files for tests and the benchmark, taken at run time from the analyzers' interpreter's standard library (never copied here).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** The interpreter the server's analyzers use by default (ANALYZER_PYTHON when set). */
export const ANALYZER_PYTHON = process.env.ANALYZER_PYTHON ?? "/usr/bin/python3";

/** Standard-library modules of three sizes: about 100, 500 and 2,800 lines. */
export const REAL_WORLD = { small: "bisect", medium: "textwrap", large: "tarfile" } as const;

/** Where the interpreter's standard library keeps a module's source (`python3 -c 'import bisect; print(bisect.__file__)'`). */
export function stdlibPath(module: string, python = ANALYZER_PYTHON): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(module)) throw new Error(`not a module name: ${module}`);
  const file = execFileSync(python, ["-I", "-c", `import ${module}; print(${module}.__file__)`], { encoding: "utf8" }).trim();
  if (!file.endsWith(".py")) throw new Error(`${module} has no Python source under ${python} (${file})`);
  return file;
}

/** The source of a standard-library module, as the interpreter has it. */
export function stdlibSource(module: string, python = ANALYZER_PYTHON): string {
  return readFileSync(stdlibPath(module, python), "utf8");
}
