// The one fstab line for the shared file system: computed, and merged into fstab's text idempotently (pure functions).
//
// Always amazon-efs-utils' type efs with TLS: this stack's file system policy refuses any transport without TLS, so a
// plain NFS mount could only fail (issue 13). efs-utils adds the NFS options EFS recommends itself (nfsvers=4.1,
// rsize/wsize 1048576, hard, timeo=600, retrans=2; noresvport given here).

export interface MountSpec {
  fileSystemId: string;
  region: string;
  mountPoint: string;
}

export function efsDnsName(spec: Pick<MountSpec, "fileSystemId" | "region">): string {
  return `${spec.fileSystemId}.efs.${spec.region}.amazonaws.com`;
}

/** fstab escapes a space in a path as \040. */
function escapePath(text: string): string {
  return text.replace(/[\s\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

export function fstabLine(spec: MountSpec): string {
  return `${spec.fileSystemId}:/ ${escapePath(spec.mountPoint)} efs _netdev,tls,noresvport 0 0`;
}

/** The argv that mounts it now, with the same options as the fstab line. */
export function mountArgv(spec: MountSpec): string[] {
  return ["mount", "-t", "efs", "-o", "tls,noresvport", `${spec.fileSystemId}:/`, spec.mountPoint];
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
