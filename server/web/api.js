// HTTP client for the CodeDetect API: one function per endpoint, every failure turned into an ApiError with a message fit for a person.

/** Largest upload the server accepts (bytes) until /api/info says otherwise (its environment.max_upload_bytes). */
let maxUploadBytes = 5 * 1024 * 1024;
export const getMaxUploadBytes = () => maxUploadBytes;
/** @param {unknown} bytes the server's limit, from /api/info */
export function setMaxUploadBytes(bytes) {
  if (typeof bytes === 'number' && Number.isInteger(bytes) && bytes > 0) maxUploadBytes = bytes;
}

/** A byte count as people read it: "5 MB", "512 KB", "1.5 MB". */
export function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${Number((bytes / (1024 * 1024)).toFixed(1))} MB`;
  if (bytes >= 1024) return `${Number((bytes / 1024).toFixed(1))} KB`;
  return `${bytes} bytes`;
}

/** How long the page waits for an analysis before giving up (the load balancer cuts idle connections at 60 s). */
const ANALYZE_TIMEOUT_MS = 90_000;
const DEFAULT_TIMEOUT_MS = 15_000;

/** Answers after which the same upload may succeed later: busy, too many requests, a gateway or server hiccup. */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

/** An API or network failure; `message` is always readable text, never a stack or an object. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, retryAfter?: number | null, retryable?: boolean}} [extra]
   */
  constructor(message, extra = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = extra.status ?? 0;
    this.retryAfter = extra.retryAfter ?? null;
    /** Whether sending the same request again later may succeed (busy, rate-limited, unreachable), unlike a refused file. */
    this.retryable = extra.retryable ?? RETRYABLE.has(this.status);
  }
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date), or null. */
function parseRetryAfter(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** A `details` value is shown only when it is one short line of text (never a traceback or a dump). */
function shortDetails(details) {
  if (typeof details !== 'string') return '';
  const text = details.trim();
  if (!text || text.length > 200 || text.includes('\n') || /traceback|\bat .+:\d+/i.test(text)) return '';
  return text;
}

const STATUS_MESSAGES = {
  400: 'The server could not accept this request.',
  404: 'Not found.',
  408: 'The server timed out waiting for the upload.',
  429: 'Too many requests; please wait a moment and try again.',
  500: 'The server had an internal error.',
  502: 'The server is unreachable right now (bad gateway).',
  503: 'The service is busy or unavailable right now.',
  504: 'The server took too long to answer.',
};

/**
 * Builds the message shown for a non-2xx answer.
 * @param {number} status
 * @param {string} statusText
 * @param {unknown} body parsed JSON, or null when the body was not JSON
 */
export function describeFailure(status, statusText, body) {
  let message = '';
  if (body && typeof body === 'object') {
    const { error, details, message: msg } = /** @type {Record<string, unknown>} */ (body);
    if (typeof error === 'string' && error.trim()) message = error.trim();
    else if (typeof msg === 'string' && msg.trim()) message = msg.trim();
    const extra = shortDetails(details);
    if (message && extra && extra !== message) message = `${message}: ${extra}`;
  }
  if (!message && status === 413) message = `The file is larger than the server accepts (${formatBytes(maxUploadBytes)}).`;
  if (!message) {
    message = STATUS_MESSAGES[status] ?? `The server answered ${status}${statusText ? ` ${statusText}` : ''}.`;
  }
  if (!/[.!?]$/.test(message)) message += '.';
  // (when to try again is the page's retry button's job, with its countdown: not repeated here)
  return message;
}

/**
 * fetch + JSON with readable failures.
 * @param {string} path
 * @param {RequestInit & {timeoutMs?: number, acceptErrorBody?: boolean}} [options]
 * @returns {Promise<any>}
 */
async function request(path, options = {}) {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, acceptErrorBody = false, ...init } = options;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  let response;
  try {
    response = await fetch(path, {
      ...init,
      signal,
      headers: { Accept: 'application/json', ...(init.headers ?? {}) },
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (err) {
    if (timeout.aborted) {
      throw new ApiError(`The server did not answer within ${Math.round(timeoutMs / 1000)} seconds.`, { retryable: true });
    }
    if (err instanceof DOMException && err.name === 'AbortError') throw new ApiError('The request was cancelled.');
    throw new ApiError('Could not reach the server. Check your connection.', { retryable: true });
  }

  let body = null;
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      body = await response.json();
    } catch {
      body = null;
    }
  }

  if (response.ok) {
    if (body === null) throw new ApiError('The server sent an answer the page could not read.', { status: response.status });
    return body;
  }
  if (acceptErrorBody && body && typeof body === 'object') return body;
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  throw new ApiError(describeFailure(response.status, response.statusText, body), {
    status: response.status,
    retryAfter,
  });
}

/**
 * Uploads one Python file for analysis.
 * @param {File} file
 * @param {AbortSignal} [signal]
 */
export function analyzeFile(file, signal) {
  const form = new FormData();
  form.append('file', file, file.name);
  return request('/api/analyze', { method: 'POST', body: form, timeoutMs: ANALYZE_TIMEOUT_MS, signal });
}

export const getStats = () => request('/api/stats');
/** A stored analysis by the SHA-256 of its file (the result's own address). @param {string} hash */
export const getAnalysis = (hash) => request(`/api/analysis/${encodeURIComponent(hash)}`);
export const getInfo = () => request('/api/info');
/** Health answers 503 with a JSON body when unhealthy or draining; that body is still the answer. */
export const getHealth = () => request('/api/health', { acceptErrorBody: true, timeoutMs: 5_000 });

/** @param {{email: string, type: string, message: string}} report */
export function sendReport(report) {
  return request('/api/report', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(report),
  });
}
