// The one fstab line for the shared file system: computed, and merged into fstab's text idempotently (pure functions).

export const NFS_OPTIONS = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport";

export interface MountSpec {
  fileSystemId: string;
  region: string;
  mountPoint: string;
  /** amazon-efs-utils is installed: mount type efs with TLS. */
  efsUtils: boolean;
}

export function efsDnsName(spec: Pick<MountSpec, "fileSystemId" | "region">): string {
  return `${spec.fileSystemId}.efs.${spec.region}.amazonaws.com`;
}

/** fstab escapes a space in a path as \040. */
function escapePath(text: string): string {
  return text.replace(/[\s\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

export function fstabLine(spec: MountSpec): string {
  return spec.efsUtils
    ? `${spec.fileSystemId}:/ ${escapePath(spec.mountPoint)} efs _netdev,tls,noresvport 0 0`
    : `${efsDnsName(spec)}:/ ${escapePath(spec.mountPoint)} nfs4 ${NFS_OPTIONS},_netdev 0 0`;
}

/** The argv that mounts it now, with the same options as the fstab line. */
export function mountArgv(spec: MountSpec): string[] {
  return spec.efsUtils
    ? ["mount", "-t", "efs", "-o", "tls,noresvport", `${spec.fileSystemId}:/`, spec.mountPoint]
    : ["mount", "-t", "nfs4", "-o", NFS_OPTIONS, `${efsDnsName(spec)}:/`, spec.mountPoint];
}

/** fstab's text with exactly one line for the mount point: ours. Returns the text unchanged when it already is so. */
export function fstabWithLine(content: string, line: string, mountPoint: string): string {
  const target = escapePath(mountPoint);
  const lines = content.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const others = lines.filter((existing) => {
    const fields = existing.trim().split(/\s+/);
    return existing.trim().startsWith("#") || fields[1] !== target;
  });
  const ours = lines.filter((existing) => existing === line);
  if (ours.length === 1 && others.length === lines.length - 1) return content.endsWith("\n") || content === "" ? content : `${content}\n`;
  return `${[...others, line].join("\n")}\n`;
}
