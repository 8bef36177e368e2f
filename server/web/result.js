// Renders one analysis result: score, summary, quality/security/complexity tables and the uploaded code (all text via textContent).

import { BAND_LABEL, byId, h, replace, safeHttpUrl, scoreBand, show, timeEl } from './dom.js';
import { complexityEntries, qualityIssues, securityIssues, summaryCounts } from './findings.js';

/** A table in a keyboard-scrollable wrapper; each cell carries its column name for the stacked phone layout. */
function table(caption, headers, rows) {
  for (const row of rows) {
    Array.from(row.children).forEach((cell, i) => cell.setAttribute('data-label', headers[i] ?? ''));
  }
  return h(
    'div',
    { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': caption },
    h(
      'table',
      {},
      h('caption', { class: 'visually-hidden', text: caption }),
      h('thead', {}, h('tr', {}, ...headers.map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, ...rows),
    ),
  );
}

const empty = (text) => h('p', { class: 'empty', text });

function qualityTable(result) {
  const issues = qualityIssues(result);
  if (issues.length === 0) return empty('No quality issues found.');
  return table(
    'Quality issues',
    ['Line', 'Type', 'Symbol', 'Message'],
    issues.map((q) =>
      h(
        'tr',
        { 'data-type': q.type },
        h('td', { class: 'num', text: q.line === null ? '—' : `${q.line}:${q.column ?? 0}` }),
        h('td', {}, h('span', { class: `tag type-${q.type || 'unknown'}`, text: show(q.type) })),
        h('td', {}, h('code', { text: show(q.symbol) }), q.messageId ? h('span', { class: 'muted id', text: ` ${q.messageId}` }) : null),
        h('td', { class: 'message', text: show(q.message) }),
      ),
    ),
  );
}

function securityTable(result) {
  const issues = securityIssues(result);
  if (issues.length === 0) return empty('No security issues found.');
  return table(
    'Security issues',
    ['Severity', 'Confidence', 'Line', 'Issue', 'More'],
    issues.map((s) => {
      const href = safeHttpUrl(s.moreInfo);
      const link = href
        ? h('a', { href, target: '_blank', rel: 'noopener noreferrer', text: 'Details' },
            h('span', { class: 'visually-hidden', text: ` about ${s.testId} (opens in a new tab)` }))
        : h('span', { text: '—' });
      return h(
        'tr',
        { 'data-severity': s.severity },
        h('td', {}, h('span', { class: `tag sev-${s.severity.toLowerCase() || 'unknown'}`, text: show(s.severity) })),
        h('td', { text: show(s.confidence) }),
        h('td', { class: 'num', text: s.line === null ? '—' : String(s.line) }),
        h(
          'td',
          { class: 'message' },
          h('span', { text: show(s.text) }),
          h('span', { class: 'muted id', text: ` ${s.testId}${s.testName ? ` ${s.testName}` : ''}` }),
        ),
        h('td', {}, link),
      );
    }),
  );
}

function complexityTable(result) {
  const { entries, errors } = complexityEntries(result);
  const parts = errors.map((e) => h('p', { class: 'alert small', text: `radon could not analyze the file: ${e}` }));
  if (entries.length === 0) {
    if (errors.length === 0) parts.push(empty('No functions, methods or classes to measure.'));
    return h('div', {}, ...parts);
  }
  parts.push(
    table(
      'Cyclomatic complexity per function',
      ['Name', 'Kind', 'Lines', 'Rank', 'Complexity'],
      entries.map((c) =>
        h(
          'tr',
          { class: (c.complexity ?? 0) > 10 ? 'high' : null },
          h('td', {}, h('code', { text: show(c.name) })),
          h('td', { text: show(c.type) }),
          h('td', { class: 'num', text: c.lineno === null ? '—' : `${c.lineno}–${c.endline ?? c.lineno}` }),
          h('td', {}, h('span', { class: `rank rank-${(c.rank || 'x').toLowerCase()}`, text: show(c.rank) })),
          h('td', { class: 'num', text: c.complexity === null ? '—' : String(c.complexity) }),
        ),
      ),
    ),
  );
  return h('div', {}, ...parts);
}

function summaryItems(result) {
  const { totalIssues, securityIssues: sec, highComplexity } = summaryCounts(result);
  const item = (value, label, id) => h('li', { id }, h('span', { class: 'count', text: String(value) }), h('span', { class: 'label', text: label }));
  return [
    item(totalIssues, totalIssues === 1 ? 'quality issue' : 'quality issues', 'summary-quality'),
    item(sec, sec === 1 ? 'security issue' : 'security issues', 'summary-security'),
    item(highComplexity, highComplexity === 1 ? 'complex function (over 10)' : 'complex functions (over 10)', 'summary-complexity'),
  ];
}

/** Fills the code view lazily (only when opened) — a 5 MB file is a lot of text to lay out. */
function prepareCodeView(result) {
  const details = /** @type {HTMLDetailsElement} */ (byId('code-view'));
  const code = typeof result?.original_code === 'string' ? result.original_code : '';
  const lines = code === '' ? 0 : code.replace(/\n$/, '').split('\n').length;
  details.open = false;
  details.hidden = code === '';
  byId('code-summary').textContent = `Show the uploaded code (${lines} line${lines === 1 ? '' : 's'})`;
  byId('code-text').textContent = '';
  byId('code-gutter').textContent = '';
  details.ontoggle = () => {
    if (!details.open || byId('code-text').textContent) return;
    byId('code-text').textContent = code;
    byId('code-gutter').textContent = Array.from({ length: lines }, (_, i) => i + 1).join('\n');
  };
}

/** Shows a result in the #result section. */
export function renderResult(result) {
  const section = byId('result');
  const score = typeof result?.score === 'number' ? result.score : null;
  const band = scoreBand(score);

  byId('result-heading').textContent = `Result for ${show(result?.filename)}`;
  replace(
    byId('result-meta'),
    h('div', {}, h('dt', { text: 'SHA-256' }), h('dd', {}, h('code', { class: 'hash', id: 'result-hash', text: show(result?.file_hash) }))),
    h('div', {}, h('dt', { text: 'Analyzed' }), h('dd', {}, timeEl(result?.timestamp))),
    result?.cached ? h('div', {}, h('dt', { text: 'Source' }), h('dd', {}, h('span', { class: 'pill', text: 'Cached — same file analyzed before' }))) : null,
  );

  const scoreBox = byId('score');
  scoreBox.dataset.band = band;
  byId('score-value').textContent = score === null ? '—' : String(score);
  byId('score-band').textContent = BAND_LABEL[band];
  scoreBox.setAttribute('aria-label', score === null ? 'Score unavailable' : `Score ${score} out of 100: ${BAND_LABEL[band]}`);

  replace(byId('summary'), ...summaryItems(result));

  const shown = qualityIssues(result).length;
  const { totalIssues } = summaryCounts(result);
  const note = byId('quality-note');
  note.hidden = !(totalIssues > shown);
  note.textContent = totalIssues > shown ? `Showing the first ${shown} of ${totalIssues} pylint messages; the score counts them all.` : '';

  replace(byId('quality-body'), qualityTable(result));
  replace(byId('security-body'), securityTable(result));
  replace(byId('complexity-body'), complexityTable(result));
  prepareCodeView(result);

  section.hidden = false;
}
