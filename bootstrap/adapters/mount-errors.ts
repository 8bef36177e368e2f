// What a failed `mount -t efs` means, read from the mount helper's stderr (amazon-efs-utils, then mount.nfs4), each with its real cause and next step.
//
// The messages are the helpers' own: amazon-efs-utils (github.com/aws/efs-utils, src/mount_efs and
// src/efs_utils_common: fatal_error writes the message to stderr and exits 1, or passes mount.nfs4's stderr and exit
// status through) and mount.nfs4 (nfs-utils). Their meanings follow AWS's "Troubleshooting mount issues"
// (https://docs.aws.amazon.com/efs/latest/ug/troubleshooting-efs-mounting.html) and "Troubleshooting Amazon EFS
// access" for file system policies. Order matters: the first match wins, the most specific first.
import type { Diagnosis } from "../../compose/actions.ts";

export interface MountContext {
  fileSystemId: string;
  zone: string;
}

export function mountDiagnoses(m: MountContext): Diagnosis[] {
  return [
    {
      // mount(8) finds no /sbin/mount.efs: the package went away after the agent looked
      pattern: "unknown filesystem type 'efs'|wrong fs type",
      cause: "mount has no helper for type efs: amazon-efs-utils is not installed (or broken)",
      next: "dnf install -y amazon-efs-utils, then re-run",
      permanent: true,
    },
    {
      // efs-utils: "Failed to locate stunnel in … - …" / efs-proxy, the TLS tunnel it starts
      pattern: "Failed to locate (stunnel|efs-proxy)",
      cause: "amazon-efs-utils cannot start its TLS tunnel (stunnel / efs-proxy missing)",
      next: "dnf reinstall -y amazon-efs-utils, then re-run",
      permanent: true,
    },
    {
      // mount.nfs4: "access denied by server while mounting 127.0.0.1:/" — EFS refused the client: the file system
      // policy (this stack's refuses transport without TLS and mounts that do not come through a mount target)
      pattern: "access denied by server",
      cause: `EFS refused the mount of ${m.fileSystemId}: its file system policy denies this client (TLS required, mounts through a mount target only), not the network`,
      next: `check the file system policy of ${m.fileSystemId} (aws efs describe-file-system-policy) and that the mount uses -o tls, then re-run`,
      permanent: true,
    },
    {
      // efs-utils: "Cannot find mount target for the file system fs-…" / "No mount target created for the file system
      // fs-… is in available state yet, please retry in 5 minutes." / "No matching mount target in the az …"
      pattern: "Cannot find mount target|No mount target created|No matching mount target|mount target .* not available",
      cause: `no available mount target of ${m.fileSystemId} in ${m.zone}`,
      next: `check the stack's mount target in ${m.zone} (aws efs describe-mount-targets --file-system-id ${m.fileSystemId}); a new one takes a few minutes, then re-run`,
    },
    {
      // efs-utils: 'Failed to resolve "fs-….efs.<region>.amazonaws.com" - check that your file system ID is correct, and
      // ensure that the VPC has an EFS mount target for this file system ID.'
      pattern: "Failed to resolve",
      cause: `the DNS name of ${m.fileSystemId} does not resolve: no mount target in this VPC yet (a new one takes minutes to appear in DNS), the VPC's DNS resolution or hostnames off, or a wrong fileSystemId`,
      next: `check fileSystemId, the mount target in ${m.zone} and the VPC's enableDnsSupport/enableDnsHostnames, then re-run`,
    },
    {
      // mount.nfs4: "mounting fs-….efs.….amazonaws.com:/path failed, reason given by server: No such file or directory"
      pattern: "reason given by server: No such file or directory",
      cause: `the path to mount does not exist on ${m.fileSystemId}`,
      next: `mount the file system's root (${m.fileSystemId}:/), then re-run`,
      permanent: true,
    },
    {
      // efs-utils: "Connection to the mount target IP address … timeout. … check your VPC and security group
      // configuration to ensure your file system is reachable via TCP port 2049"; mount.nfs4: "Connection timed out";
      // the TLS tunnel reset by an unreachable mount target: "Connection reset by peer"
      pattern: "timed out|timeout|Connection reset by peer|Connection refused|No route to host",
      cause: `the mount target of ${m.fileSystemId} in ${m.zone} does not answer on NFS (TCP 2049): the security groups, the subnet's network ACL or a route drop it`,
      next: "check that the file system's security group allows 2049 from the instances' group, the instances' group allows 2049 out, and the subnet's NACL both ways, then re-run",
    },
    {
      pattern: "only root can",
      cause: "mounting needs root",
      next: "run the agent as root (the codedetect-agent unit does)",
      permanent: true,
    },
  ];
}
