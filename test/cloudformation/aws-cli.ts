// The real AWS CLI against a moto server the test started: fake credentials, one region, JSON answers; plus a two-zone network to deploy into.
import { execa } from "execa";

export const REGION = "eu-west-1";
export const FAKE_IMAGE = `127.0.0.1:5000/codedetect:3.0.0@sha256:${"a1".repeat(32)}`;
/** Pinned by digest alone, as `docker inspect --format '{{index .RepoDigests 0}}'` prints it: a tag is optional. */
export const FAKE_DIGEST_ONLY_IMAGE = `127.0.0.1:5000/codedetect@sha256:${"a1".repeat(32)}`;

export function awsEnv(): NodeJS.ProcessEnv {
  return { ...process.env, AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_DEFAULT_REGION: REGION, AWS_PAGER: "", AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null" };
}

export interface Cli {
  endpoint: string;
  /** Runs `aws <args> --endpoint-url …`; throws with stderr on a non-zero exit. */
  json(...args: string[]): Promise<any>;
  run(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

export function cli(endpoint: string): Cli {
  const run = async (...args: string[]) => {
    const result = await execa("aws", [...args, "--endpoint-url", endpoint, "--output", "json"], { env: awsEnv(), reject: false, timeout: 300_000 });
    return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
  };
  return {
    endpoint,
    run,
    async json(...args) {
      const result = await run(...args);
      if (result.exitCode !== 0) throw new Error(`aws ${args.join(" ")} failed (${result.exitCode}): ${result.stderr.trim()}`);
      return result.stdout.trim() ? JSON.parse(result.stdout) : null;
    },
  };
}

export interface Network {
  vpcId: string;
  /** Instance subnets, one per zone. */
  instanceA: string;
  instanceB: string;
  /** A second subnet in instanceA's zone (for the same-zone failure). */
  instanceA2: string;
  loadBalancer: [string, string];
}

export async function twoZoneNetwork(aws: Cli): Promise<Network> {
  const vpcId = (await aws.json("ec2", "create-vpc", "--cidr-block", "10.20.0.0/16")).Vpc.VpcId as string;
  const subnet = async (cidr: string, zone: string) => (await aws.json("ec2", "create-subnet", "--vpc-id", vpcId, "--cidr-block", cidr, "--availability-zone", zone)).Subnet.SubnetId as string;
  return {
    vpcId,
    instanceA: await subnet("10.20.1.0/24", `${REGION}a`),
    instanceB: await subnet("10.20.2.0/24", `${REGION}b`),
    instanceA2: await subnet("10.20.5.0/24", `${REGION}a`),
    loadBalancer: [await subnet("10.20.3.0/24", `${REGION}a`), await subnet("10.20.4.0/24", `${REGION}b`)],
  };
}

export function parameterOverrides(network: Network, extra: Record<string, string> = {}): string[] {
  const values: Record<string, string> = {
    VpcId: network.vpcId,
    InstanceSubnetA: network.instanceA,
    InstanceSubnetB: network.instanceB,
    LoadBalancerSubnets: network.loadBalancer.join(","),
    ImageUri: FAKE_IMAGE,
    Protocol: "http",
    ...extra,
  };
  return Object.entries(values).map(([key, value]) => `${key}=${value}`);
}
