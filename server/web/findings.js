// Reads an /api/analyze answer defensively into plain lists of findings, shared by the on-page result and the text report.

const SEVERITY_ORDER = { HIGH: 0, MEDIUM: 1, LOW: 2 };

/** @param {unknown} v */
const asArray = (v) => (Array.isArray(v) ? v : []);
/** @param {unknown} v */
const asText = (v) => (v === null || v === undefined ? '' : String(v));
/** @param {unknown} v */
const asNumber = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** pylint messages, in the server's order. */
export function qualityIssues(result) {
  return asArray(result?.analysis?.quality_issues).map((q) => ({
    line: asNumber(q?.line),
    column: asNumber(q?.column),
    type: asText(q?.type),
    symbol: asText(q?.symbol),
    messageId: asText(q?.['message-id']),
    message: asText(q?.message),
    obj: asText(q?.obj),
  }));
}

/** bandit results, most severe first, then by line. */
export function securityIssues(result) {
  return asArray(result?.analysis?.security_issues)
    .map((s) => ({
      testId: asText(s?.test_id),
      testName: asText(s?.test_name),
      severity: asText(s?.issue_severity).toUpperCase(),
      confidence: asText(s?.issue_confidence).toUpperCase(),
      text: asText(s?.issue_text),
      line: asNumber(s?.line_number),
      code: asText(s?.code),
      moreInfo: asText(s?.more_info),
    }))
    .sort(
      (a, b) =>
        (SEVERITY_ORDER[a.severity] ?? 3) - (SEVERITY_ORDER[b.severity] ?? 3) || (a.line ?? 0) - (b.line ?? 0),
    );
}

/**
 * radon cc entries of every file key, in source order, plus any error radon reported.
 * @returns {{entries: Array<{name: string, type: string, rank: string, complexity: number | null, lineno: number | null, endline: number | null}>, errors: string[]}}
 */
export function complexityEntries(result) {
  const complexity = result?.analysis?.complexity;
  const entries = [];
  const errors = [];
  if (complexity && typeof complexity === 'object') {
    if (typeof complexity.error === 'string') errors.push(complexity.error);
    for (const [file, value] of Object.entries(complexity)) {
      if (file === 'error') continue;
      if (Array.isArray(value)) {
        for (const c of value) {
          const name = asText(c?.name);
          const cls = asText(c?.classname);
          entries.push({
            name: c?.type === 'method' && cls ? `${cls}.${name}` : name,
            type: asText(c?.type),
            rank: asText(c?.rank),
            complexity: asNumber(c?.complexity),
            lineno: asNumber(c?.lineno),
            endline: asNumber(c?.endline),
          });
        }
      } else if (value && typeof value === 'object' && typeof value.error === 'string') {
        errors.push(value.error);
      }
    }
  }
  entries.sort((a, b) => (a.lineno ?? 0) - (b.lineno ?? 0));
  return { entries, errors };
}

/** The summary counts, as numbers (0 when absent). */
export function summaryCounts(result) {
  const s = result?.summary ?? {};
  return {
    totalIssues: asNumber(s.total_issues) ?? 0,
    securityIssues: asNumber(s.security_issues) ?? 0,
    highComplexity: asNumber(s.high_complexity_functions) ?? 0,
  };
}
