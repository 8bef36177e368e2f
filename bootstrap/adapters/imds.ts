// IMDSv2 client: token PUT, then GETs with the token; bounded retries on timeouts and 5xx, a fresh token once on 401.
export interface InstanceIdentity {
  instanceId: string;
  zone: string;
  region: string;
}

export type ImdsResult =
  | { state: "ok"; identity: InstanceIdentity }
  /** No answer within the attempts: timeouts, refused connections, 5xx. */
  | { state: "unreachable"; detail: string }
  /** An answer that retrying cannot change: 401/403 with a fresh token, 404, malformed values. */
  | { state: "refused"; detail: string };

export interface ImdsOptions {
  attempts?: number;
  timeoutMs?: number;
  minDelayMs?: number;
}

class Retryable extends Error {}
class Permanent extends Error {}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function request(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : ((error as { cause?: Error }).cause?.message ?? (error as Error).message);
    throw new Retryable(`${init.method ?? "GET"} ${url}: ${cause}`);
  }
}

export function createImdsClient(endpoint: string, options: ImdsOptions = {}) {
  const attempts = options.attempts ?? 5;
  const timeoutMs = options.timeoutMs ?? 2000;
  const minDelayMs = options.minDelayMs ?? 250;
  const base = endpoint.replace(/\/$/, "");
  let token: string | null = null;

  async function fetchToken(): Promise<string> {
    const response = await request(`${base}/latest/api/token`, { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": "21600" } }, timeoutMs);
    if (response.status >= 500) throw new Retryable(`token PUT answered ${response.status}`);
    if (!response.ok) throw new Permanent(`token PUT answered ${response.status}`);
    return (await response.text()).trim();
  }

  async function get(path: string): Promise<string> {
    for (let fresh = 0; ; fresh += 1) {
      token ??= await fetchToken();
      const response = await request(`${base}${path}`, { headers: { "X-aws-ec2-metadata-token": token } }, timeoutMs);
      if (response.status === 401 && fresh === 0) {
        token = null;
        continue;
      }
      if (response.status >= 500) throw new Retryable(`GET ${path} answered ${response.status}`);
      if (!response.ok) throw new Permanent(`GET ${path} answered ${response.status}${response.status === 401 ? " even with a fresh token" : ""}`);
      return (await response.text()).trim();
    }
  }

  async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
    let last: Error = new Error("not tried");
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        return await fn();
      } catch (error) {
        if (!(error instanceof Retryable)) throw error;
        last = error;
        if (attempt < attempts) await sleep(minDelayMs * 2 ** (attempt - 1) * (1 + Math.random()));
      }
    }
    throw new Retryable(`${last.message} (${attempts} attempts)`);
  }

  return {
    get: (path: string) => withRetries(() => get(path)),
    async identity(): Promise<ImdsResult> {
      try {
        const [instanceId, zone, region] = await withRetries(async () => [
          await get("/latest/meta-data/instance-id"),
          await get("/latest/meta-data/placement/availability-zone"),
          await get("/latest/meta-data/placement/region"),
        ]);
        if (!/^i-[0-9a-f]{8,17}$/.test(instanceId!)) return { state: "refused", detail: `instance id "${instanceId}" is not one` };
        if (!zone!.startsWith(region!)) return { state: "refused", detail: `zone "${zone}" is not in region "${region}"` };
        return { state: "ok", identity: { instanceId: instanceId!, zone: zone!, region: region! } };
      } catch (error) {
        return { state: error instanceof Retryable ? "unreachable" : "refused", detail: (error as Error).message };
      }
    },
  };
}
