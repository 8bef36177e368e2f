// Reads an /api/analyze answer defensively into plain lists of findings with their documentation links, shared by the on-page result and the text report.

const SEVERITY_ORDER = { HIGH: 0, MEDIUM: 1, LOW: 2 };

/** @param {unknown} v */
const asArray = (v) => (Array.isArray(v) ? v : []);
/** @param {unknown} v */
const asText = (v) => (v === null || v === undefined ? '' : String(v));
/** @param {unknown} v */
const asNumber = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** pylint's message types, most severe first, with the heading of each group. */
export const QUALITY_TYPES = [
  ['fatal', 'Fatal errors'],
  ['error', 'Errors'],
  ['warning', 'Warnings'],
  ['refactor', 'Refactoring suggestions'],
  ['convention', 'Conventions'],
  ['info', 'Information'],
];
const TYPE_RANK = Object.fromEntries(QUALITY_TYPES.map(([type], i) => [type, i]));

/** pylint's page for one message (one per symbol, under its type): how to fix it. Null for a shape it does not publish. */
export function pylintDocUrl(type, symbol) {
  if (!(type in TYPE_RANK) || !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(symbol)) return null;
  return `https://pylint.readthedocs.io/en/stable/user_guide/messages/${type}/${symbol}.html`;
}

/**
 * bandit's page for one test: the `more_info` bandit gives when it is bandit's own documentation, else built from
 * the test id and name (plugins/<id>_<name>.html). Null when neither fits.
 */
export function banditDocUrl(moreInfo, testId, testName) {
  try {
    const url = new URL(moreInfo);
    if (url.protocol === 'https:' && url.hostname === 'bandit.readthedocs.io') return url.href;
  } catch {
    // not a URL: built below
  }
  if (!/^B\d{3}$/.test(testId) || !/^[a-z0-9_]+$/.test(testName) || testName === 'blacklist') return null;
  return `https://bandit.readthedocs.io/en/latest/plugins/${testId.toLowerCase()}_${testName}.html`;
}

/** pylint messages, most severe first then by line (the server sends them so; old stored answers are sorted here). */
export function qualityIssues(result) {
  return asArray(result?.analysis?.quality_issues)
    .map((q) => {
      const type = asText(q?.type);
      const symbol = asText(q?.symbol);
      return {
        line: asNumber(q?.line),
        column: asNumber(q?.column),
        type,
        symbol,
        messageId: asText(q?.['message-id']),
        message: asText(q?.message),
        obj: asText(q?.obj),
        docUrl: pylintDocUrl(type, symbol),
      };
    })
    .sort((a, b) => (TYPE_RANK[a.type] ?? 99) - (TYPE_RANK[b.type] ?? 99) || (a.line ?? 0) - (b.line ?? 0));
}

/**
 * The pylint messages in groups by type, most severe first; `count` is every message of the type (the server
 * counts those beyond its listing bound too), `issues` the listed ones.
 * @returns {Array<{type: string, label: string, count: number, issues: ReturnType<typeof qualityIssues>}>}
 */
export function qualityGroups(result) {
  const issues = qualityIssues(result);
  const counted = result?.summary?.quality_by_type;
  const known = new Map(QUALITY_TYPES);
  const types = [...new Set([...QUALITY_TYPES.map(([t]) => t), ...issues.map((q) => q.type)])];
  return types
    .map((type) => {
      const listed = issues.filter((q) => q.type === type);
      const count = asNumber(counted?.[type]) ?? listed.length;
      return { type, label: known.get(type) ?? (type || 'Other'), count: Math.max(count, listed.length), issues: listed };
    })
    .filter((group) => group.count > 0);
}

/** pylint's reason the file could not be parsed (message and line), or null. */
export function parseError(result) {
  const p = result?.parse_error;
  if (!p || typeof p !== 'object') return null;
  return { message: asText(p.message), line: asNumber(p.line), column: asNumber(p.column) };
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
      docUrl: banditDocUrl(asText(s?.more_info), asText(s?.test_id), asText(s?.test_name)),
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
