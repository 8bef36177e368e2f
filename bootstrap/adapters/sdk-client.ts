// The one place AWS SDK clients are configured (agent and scripts): region, an emulator's endpoint, attempts, connection and request timeouts.
import { NodeHttpHandler } from "@smithy/node-http-handler";

/**
 * The SDK sets no timeout of its own: a black-holed endpoint (a security group or NACL dropping packets, a dead NAT,
 * an endpoint that accepts and never answers) would hold a call for as long as the kernel keeps the socket, and a
 * boot until the stack's signal timeout. Connection: a TCP handshake with an AWS endpoint takes milliseconds; 3 s
 * leaves room for a congested NAT. Request: the longest answer the agent waits for is a paged Describe* call; 20 s is
 * far above it. Each attempt is bounded so; the attempts themselves are bounded by the caller's retry policy.
 */
export interface SdkTimeouts {
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
}

export const DEFAULT_SDK_TIMEOUTS: SdkTimeouts = { connectionTimeoutMs: 3000, requestTimeoutMs: 20_000 };

export interface SdkClientOptions {
  region: string;
  /** An emulator's URL in tests; null: AWS itself. */
  endpoint: string | null;
  /** The SDK's own attempts (1 when the caller retries itself). */
  maxAttempts: number;
  timeouts?: SdkTimeouts;
}

/** The configuration every client is built with: `new EC2Client(sdkClientConfig(…))`. */
export function sdkClientConfig(options: SdkClientOptions) {
  const timeouts = options.timeouts ?? DEFAULT_SDK_TIMEOUTS;
  return {
    region: options.region,
    maxAttempts: options.maxAttempts,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    // throwOnRequestTimeout: without it, @smithy/node-http-handler 4 only logs a warning when requestTimeout passes
    // and keeps waiting.
    requestHandler: new NodeHttpHandler({ connectionTimeout: timeouts.connectionTimeoutMs, requestTimeout: timeouts.requestTimeoutMs, throwOnRequestTimeout: true }),
  };
}

/** Where a client sends its requests: the configured endpoint, else the service's regional endpoint (for messages only). */
export function endpointOf(service: string, options: Pick<SdkClientOptions, "region" | "endpoint">): string {
  return options.endpoint ?? `https://${service}.${options.region}${options.region.startsWith("cn-") ? ".amazonaws.com.cn" : ".amazonaws.com"}`;
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE", "ETIMEDOUT"]);

/**
 * An SDK failure as one line. When the endpoint itself did not answer (a timeout, a refused or reset connection, a
 * name that does not resolve) the line names the endpoint and which limit was reached; otherwise it is the service's
 * own answer (name, HTTP status, message).
 */
export function describeSdkError(error: unknown, endpoint: string, timeouts: SdkTimeouts = DEFAULT_SDK_TIMEOUTS): string {
  const e = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
  const message = e.message ?? String(error);
  const attempts = e.$metadata?.attempts && e.$metadata.attempts > 1 ? ` (${e.$metadata.attempts} attempts)` : "";
  if (/did not establish a connection/.test(message)) return `no connection to ${endpoint} within ${timeouts.connectionTimeoutMs} ms${attempts}: the endpoint does not accept (security group, NACL, route or NAT dropping the traffic?)`;
  if (/requestTimeout|timed out after \d+ ms of inactivity/.test(message)) return `no answer from ${endpoint} within ${timeouts.requestTimeoutMs} ms${attempts}: connected, but the endpoint never answered`;
  if (e.code && NETWORK_CODES.has(e.code)) return `cannot reach ${endpoint}: ${message.split("\n")[0]}${attempts}`;
  const status = e.$metadata?.httpStatusCode;
  return `${e.name ?? "Error"}${status ? ` (HTTP ${status})` : ""}: ${message.split("\n")[0]}`;
}
