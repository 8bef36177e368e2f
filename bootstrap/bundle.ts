// Bundles the agent (bootstrap/cli.ts, supervise included) into one ESM file for the host's Node.js 24: no node_modules, no native module.
// `node bootstrap/bundle.ts OUT` — the image's build stage writes /opt/codedetect/agent.mjs with it; the tests bundle the same way.
import path from "node:path";
import * as esbuild from "esbuild";

export const AGENT_ENTRY = path.join(import.meta.dirname, "cli.ts");

export async function bundleAgent(outfile: string): Promise<{ bytes: number }> {
  const result = await esbuild.build({
    entryPoints: [AGENT_ENTRY],
    bundle: true,
    platform: "node",
    target: "node24",
    format: "esm",
    outfile,
    minify: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    // A few dependencies (pino's) still call require() for Node's own modules.
    banner: { js: "import { createRequire as __agentRequire } from 'node:module'; const require = __agentRequire(import.meta.url);" },
  });
  const native = Object.keys(result.metafile.inputs).filter((input) => input.endsWith(".node"));
  if (native.length > 0) throw new Error(`the agent bundle would need native modules: ${native.join(", ")}`);
  return { bytes: Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0) };
}

if (import.meta.main) {
  const outfile = process.argv[2];
  if (!outfile) {
    process.stderr.write("usage: node bootstrap/bundle.ts OUTFILE\n");
    process.exit(2);
  }
  const { bytes } = await bundleAgent(path.resolve(outfile));
  process.stdout.write(`agent bundle: ${outfile} (${(bytes / 1024 / 1024).toFixed(1)} MB)\n`);
}
