// The validators the user-data suites run for real (cloud-init, shellcheck): a reason to skip when missing, a failure under CI.
import { execa } from "execa";

export async function toolMissing(tool: "cloud-init" | "shellcheck"): Promise<string | false> {
  const probe = await execa(tool, ["--version"], { reject: false });
  if (probe.exitCode === 0) return false;
  const reason = `${tool} not installed: apt-get install -y --no-install-recommends ${tool}`;
  if (process.env.CI === "true") throw new Error(reason);
  return reason;
}
