// Builds the plain-text report of an analysis in the browser and offers it as a `<file>-report.txt` download.

import { complexityEntries, parseError, qualityIssues, securityIssues, summaryCounts } from './findings.js';

const rule = (title, ch = '-') => `${title}\n${ch.repeat(title.length)}`;
const val = (v) => (v === null || v === undefined || v === '' ? '-' : String(v));

/**
 * The report text: file name, hash, timestamp, score, summary and every finding the answer holds.
 * @param {any} result an /api/analyze answer
 * @param {Date} [now]
 */
export function buildReport(result, now = new Date()) {
  const { totalIssues, securityIssues: secCount, highComplexity } = summaryCounts(result);
  const quality = qualityIssues(result);
  const security = securityIssues(result);
  const { entries, errors } = complexityEntries(result);
  const unparsed = parseError(result);

  const lines = [
    rule('CodeDetect analysis report', '='),
    `File:       ${val(result?.filename)}`,
    `SHA-256:    ${val(result?.file_hash)}`,
    `Analyzed:   ${val(result?.timestamp)}`,
    unparsed
      ? `Score:      not scored: pylint could not parse the file (line ${val(unparsed.line)}: ${val(unparsed.message)})`
      : `Score:      ${val(result?.score)}/100`,
    `Generated:  ${now.toISOString()}`,
    '',
    rule('Summary'),
    `Quality issues (pylint):           ${totalIssues}`,
    `Security issues (bandit):          ${secCount}`,
    `Complex functions (radon, > 10):   ${highComplexity}`,
    '',
    rule(`Quality issues (pylint), most severe first${totalIssues > quality.length ? ` - first ${quality.length} of ${totalIssues}` : ''}`),
  ];
  if (quality.length === 0) lines.push('None.');
  for (const q of quality) {
    lines.push(`Line ${val(q.line)}:${q.column ?? 0}  [${val(q.type)}] ${val(q.messageId)} ${val(q.symbol)}: ${val(q.message)}`);
    if (q.docUrl) lines.push(`    How to fix: ${q.docUrl}`);
  }

  lines.push('', rule('Security issues (bandit)'));
  if (security.length === 0) lines.push('None.');
  for (const s of security) {
    lines.push(`Line ${val(s.line)}  ${val(s.testId)} ${val(s.testName)}  severity ${val(s.severity)}, confidence ${val(s.confidence)}`);
    lines.push(`    ${val(s.text)}`);
    if (s.docUrl) lines.push(`    How to fix: ${s.docUrl}`);
    if (s.code) for (const codeLine of s.code.replace(/\n$/, '').split('\n')) lines.push(`    | ${codeLine}`);
  }

  lines.push('', rule('Complexity (radon)'));
  for (const e of errors) lines.push(`Error: ${e}`);
  if (entries.length === 0 && errors.length === 0) lines.push('No functions, methods or classes.');
  for (const c of entries) {
    lines.push(`${val(c.rank)} ${String(val(c.complexity)).padStart(3)}  ${val(c.type)} ${val(c.name)} (lines ${val(c.lineno)}-${val(c.endline ?? c.lineno)})`);
  }
  lines.push('');
  return lines.join('\n');
}

/** `<stem>-report.txt`, with characters unsafe in file names replaced. */
export function reportFileName(filename) {
  const base = typeof filename === 'string' && filename ? filename.split(/[\\/]/).pop() ?? 'analysis' : 'analysis';
  const stem = base.replace(/\.py$/i, '').replace(/[^\w.-]+/g, '_').replace(/^\.+/, '') || 'analysis';
  return `${stem}-report.txt`;
}

/** Starts the download of the report for `result`. */
export function downloadReport(result) {
  const blob = new Blob([buildReport(result)], { type: 'text/plain;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = reportFileName(result?.filename);
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
