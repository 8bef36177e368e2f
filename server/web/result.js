// Renders one analysis result: score (or why the file could not be parsed), summary, findings grouped with their documentation links, and the uploaded code whose lines the findings jump to (all text via textContent).

import { BAND_LABEL, byId, h, replace, safeHttpUrl, scoreBand, show, timeEl } from './dom.js';
import { complexityEntries, parseError, qualityGroups, qualityIssues, securityIssues, summaryCounts } from './findings.js';

/** The code shown in the code view (null when the page does not have it, e.g. a result reloaded from its address). */
let shownCode = null;
let shownLines = 0;

/** A documentation link that opens in a new tab; the CSP is not involved (nothing is loaded from it). */
function docLink(href, text, about) {
  const safe = safeHttpUrl(href);
  if (!safe) return h('span', { text: '—' });
  return h('a', { href: safe, target: '_blank', rel: 'noopener noreferrer', class: 'doc-link' }, text, h('span', { class: 'visually-hidden', text: ` ${about} (opens in a new tab)` }));
}

/** A line number: a link into the code view when the code is on the page, else plain text. */
function lineRef(line, column) {
  if (line === null) return h('span', { text: '—' });
  const text = column === null ? String(line) : `${line}:${column}`;
  if (shownCode === null || line < 1 || line > shownLines) return h('span', { text });
  return h('a', { href: `#code-line-${line}`, class: 'line-link', 'data-line': line }, h('span', { class: 'visually-hidden', text: 'Line ' }), text);
}

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
  const groups = qualityGroups(result);
  if (groups.length === 0) return empty('No quality issues found.');
  return h(
    'div',
    { class: 'quality-groups' },
    ...groups.map((group) =>
      h(
        'section',
        { class: 'quality-group', 'data-type': group.type, 'aria-labelledby': `quality-group-${group.type}` },
        h('h4', { id: `quality-group-${group.type}` }, h('span', { class: `tag type-${group.type || 'unknown'}`, text: group.label }), h('span', { class: 'group-count', text: ` ${group.count}` })),
        group.issues.length === 0
          ? empty(`Not listed: only the first ${qualityIssues(result).length} messages, most severe first, are sent.`)
          : table(
              `${group.label} (pylint)`,
              ['Line', 'Symbol', 'Message', 'How to fix'],
              group.issues.map((q) =>
                h(
                  'tr',
                  { 'data-type': q.type },
                  h('td', { class: 'num' }, lineRef(q.line, q.column)),
                  h('td', {}, h('code', { text: show(q.symbol) }), q.messageId ? h('span', { class: 'muted id', text: ` ${q.messageId}` }) : null),
                  h('td', { class: 'message', text: show(q.message) }),
                  h('td', {}, docLink(q.docUrl, 'Docs', `for pylint ${q.symbol}`)),
                ),
              ),
            ),
      ),
    ),
  );
}

function securityTable(result) {
  const issues = securityIssues(result);
  if (issues.length === 0) return empty('No security issues found.');
  return table(
    'Security issues',
    ['Severity', 'Confidence', 'Line', 'Issue', 'How to fix'],
    issues.map((s) => {
      const link = docLink(s.docUrl, 'Docs', `for bandit ${s.testId}`);
      return h(
        'tr',
        { 'data-severity': s.severity },
        h('td', {}, h('span', { class: `tag sev-${s.severity.toLowerCase() || 'unknown'}`, text: show(s.severity) })),
        h('td', { text: show(s.confidence) }),
        h('td', { class: 'num' }, lineRef(s.line, null)),
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
          h('td', { class: 'num' }, lineRef(c.lineno, null), c.lineno === null ? null : `–${c.endline ?? c.lineno}`),
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

/** Lays the code out once, one element per line (so a finding's line can be jumped to); only when first needed. */
function fillCode() {
  const codeEl = byId('code-text');
  if (shownCode === null || codeEl.childElementCount > 0 || shownLines === 0) return;
  const lines = shownCode.replace(/\n$/, '').split('\n');
  const fragment = document.createDocumentFragment();
  lines.forEach((line, i) => fragment.append(h('span', { class: 'code-line', id: `code-line-${i + 1}` }, `${line}\n`)));
  codeEl.replaceChildren(fragment);
  byId('code-gutter').textContent = Array.from({ length: lines.length }, (_, i) => i + 1).join('\n');
}

/** Opens the code view at `line`, marks it and moves keyboard focus there. */
export function jumpToLine(line) {
  if (shownCode === null) return;
  const details = /** @type {HTMLDetailsElement} */ (byId('code-view'));
  details.open = true;
  fillCode();
  const target = document.getElementById(`code-line-${line}`);
  if (!target) return;
  for (const old of document.querySelectorAll('#code-text .target')) {
    old.classList.remove('target');
    old.removeAttribute('tabindex');
  }
  target.classList.add('target');
  target.setAttribute('tabindex', '-1');
  const reduce = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  target.scrollIntoView({ block: 'center', behavior: reduce ? 'auto' : 'smooth' });
  target.focus({ preventScroll: true });
}

/** Prepares the code view (filled only when opened: a 5 MB file is a lot of text to lay out). */
function prepareCodeView(code) {
  const details = /** @type {HTMLDetailsElement} */ (byId('code-view'));
  shownCode = typeof code === 'string' ? code : null;
  shownLines = !shownCode ? 0 : shownCode.replace(/\n$/, '').split('\n').length;
  details.open = false;
  details.hidden = shownCode === null;
  byId('code-summary').textContent = `Show the uploaded code (${shownLines} line${shownLines === 1 ? '' : 's'})`;
  byId('code-text').replaceChildren();
  byId('code-gutter').textContent = '';
  details.ontoggle = () => {
    if (details.open) fillCode();
  };
}

/** Marks the result on screen as an earlier one when a later upload failed (or unmarks it). */
export function markResultStale(failedName) {
  const note = byId('result-stale');
  note.hidden = !failedName;
  note.textContent = failedName ? `This is the earlier result: the upload of “${failedName}” failed (see the message above).` : '';
  byId('result').classList.toggle('stale', Boolean(failedName));
}

/**
 * Shows a result in the #result section.
 * @param {any} result an analysis answer
 * @param {string | null} code the file's text when the page has it (line links jump into it)
 */
export function renderResult(result, code = null) {
  prepareCodeView(typeof result?.original_code === 'string' ? result.original_code : code);
  markResultStale('');
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
  const unparsed = parseError(result);
  scoreBox.dataset.band = unparsed ? 'unparsed' : band;
  byId('score-value').textContent = score === null || unparsed ? '—' : String(score);
  byId('score-band').textContent = unparsed ? 'Could not be parsed' : BAND_LABEL[band];
  scoreBox.setAttribute(
    'aria-label',
    unparsed ? 'Not scored: the file could not be parsed' : score === null ? 'Score unavailable' : `Score ${score} out of 100: ${BAND_LABEL[band]}`,
  );
  replace(
    byId('parse-error'),
    unparsed
      ? h('p', {}, h('strong', { text: 'pylint could not parse this file' }), unparsed.line === null ? '' : h('span', {}, ' (', lineRef(unparsed.line, unparsed.column), ')'), `: ${show(unparsed.message)}`)
      : null,
    unparsed ? h('p', { class: 'small', text: 'Nothing could check its quality, security or complexity, so it gets no band. Fix the syntax and upload it again.' }) : null,
  );
  byId('parse-error').hidden = !unparsed;

  replace(byId('summary'), ...summaryItems(result));

  const shown = qualityIssues(result).length;
  const { totalIssues } = summaryCounts(result);
  const note = byId('quality-note');
  note.hidden = !(totalIssues > shown);
  note.textContent = totalIssues > shown
    ? `Listing the first ${shown} of ${totalIssues} pylint messages, most severe first; the counts and the score include them all.`
    : '';

  replace(byId('quality-body'), qualityTable(result));
  replace(byId('security-body'), securityTable(result));
  replace(byId('complexity-body'), complexityTable(result));

  section.hidden = false;
}
