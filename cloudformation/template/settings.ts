// The figures the template shares with the server and the agent, each with the reason it has its value.
import { IMAGE_REF } from "../../compose/stack-schema.ts";

// Shared with the user data (the agent's configuration), defined beside it: the image's build compiles bootstrap/ without cloudformation/.
export { DRAIN_SECONDS, GROUP_NAME_SUFFIX, LAUNCH_HEARTBEAT_SECONDS, LAUNCH_HOOK_NAME, LIFECYCLE_HOOK_NAME, TERMINATION_HEARTBEAT_SECONDS } from "../../bootstrap/user-data/values.ts";

/** The port the server listens on inside the instance (the agent's `port` default, published by Compose). */
export const APP_PORT = 5000;
/** ANALYZER_MAX_WAIT_SECONDS (25, queueing) + ANALYZER_TIMEOUT_SECONDS (20, the tools): the longest analyze request. */
export const ANALYZE_DEADLINE_SECONDS = 25 + 20;
/** The balancer's idle timeout: the server's own figure, from which it derives a longer keep-alive (server/http/keep-alive.ts). */
export { LOAD_BALANCER_IDLE_TIMEOUT_SECONDS as IDLE_TIMEOUT_SECONDS } from "../../server/http/keep-alive.ts";
/** Health check: every 10 s, in after 2 passes, out after 2 failures (the seed's 30 s kept instances out a minute). */
export const HEALTH_INTERVAL_SECONDS = 10;
export const HEALTH_TIMEOUT_SECONDS = 5;
export const HEALTHY_THRESHOLD = 2;
export const UNHEALTHY_THRESHOLD = 2;
/** Boot target is under 90 s to InService; the grace period covers it with margin before ELB health counts. */
export const HEALTH_CHECK_GRACE_SECONDS = 240;
/** TLS 1.3 and 1.2 only, forward secrecy (AWS's recommended policy; defect 10 was a 2016 policy). */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";
/** The logical ID the agent signals (ConfigSchema.logicalResourceId). */
export const GROUP_LOGICAL_ID = "AutoScalingGroup";
/** Amazon Linux 2023, x86_64, resolved at each deploy from AWS's public SSM parameter. */
export const AL2023_SSM_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
/** "repository[:tag]@sha256:<64 hex>": exactly the form the agent's Compose model accepts (one definition; the tag is optional, for humans; the digest is what runs). */
export const IMAGE_PATTERN = IMAGE_REF.source;
/** The load balancer's addresses by default, for the server's TRUSTED_PROXIES: every private IPv4 range (RFC 1918). Trusting more than the
 * balancer's own subnets is safe only because the instances admit the application port from the balancer's security group alone. */
export const PRIVATE_IPV4_RANGES = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16";
/** The instance tag the agent reads as its `trustedProxies` setting. */
export const TRUSTED_PROXIES_TAG = "codedetect:trustedProxies";
