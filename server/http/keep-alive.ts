// The server's connection timeouts, its idle keep-alive derived from the load balancer's idle timeout: the server must close an idle connection after the balancer does, never before.
//
// AWS's ALB guide (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html#connection-idle-timeout):
// configure the application's idle timeout larger than the load balancer's, otherwise the balancer may send a request on a
// connection the application is closing and answer the client 502. The template sets the balancer's idle timeout from this
// same figure (cloudformation/template/settings.ts re-exports it), so the two cannot drift apart in this repository;
// LB_IDLE_TIMEOUT_SECONDS tells the server when an operator changes the balancer's.

/** The load balancer's idle timeout (`idle_timeout.timeout_seconds`) the template sets: above the analyze deadline (45 s) with room for a 5 MB upload on a slow link. */
export const LOAD_BALANCER_IDLE_TIMEOUT_SECONDS = 120;
/** How much longer than the balancer the server keeps an idle connection (Node adds its own 1 s `keepAliveTimeoutBuffer`). */
export const KEEP_ALIVE_MARGIN_SECONDS = 5;

export interface ServerTimeouts {
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
}

/**
 * Node's timeouts (ms) for a server behind a balancer whose idle timeout is `balancerIdleSeconds`.
 * headersTimeout stays short (slow-header protection): since Node 18 it counts from the first byte of each request, not from
 * the previous response, so an idle keep-alive connection is not cut by it (the old advice "headersTimeout above
 * keepAliveTimeout" was for Node ≤ 12; test/server/keep-alive.test.ts reuses connections idle past it).
 */
export function serverTimeouts(balancerIdleSeconds: number): ServerTimeouts {
  return { keepAliveTimeout: (balancerIdleSeconds + KEEP_ALIVE_MARGIN_SECONDS) * 1000, headersTimeout: 20_000, requestTimeout: 58_000 };
}
