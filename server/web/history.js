// Recent analysis history: the last few results this browser saw, kept in its localStorage only (the server lists nobody's analyses).

import { byId, h, replace, scoreBand, show, timeEl } from './dom.js';

const KEY = 'codedetect.history.v1';
export const HISTORY_LENGTH = 10;
const HASH = /^[0-9a-f]{64}$/;

/** @typedef {{hash: string, filename: string, score: number | null, unparsed: boolean, timestamp: string}} HistoryEntry */

/** The stored entries, newest first; anything that does not fit the shape is dropped (it may have been edited by hand). */
export function readHistory() {
  let raw;
  try {
    raw = JSON.parse(localStorage.getItem(KEY) ?? '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((e) => e && typeof e === 'object' && typeof e.hash === 'string' && HASH.test(e.hash) && typeof e.filename === 'string')
    .map((e) => ({
      hash: e.hash,
      filename: e.filename.slice(0, 255),
      score: typeof e.score === 'number' && Number.isFinite(e.score) ? e.score : null,
      unparsed: e.unparsed === true,
      timestamp: typeof e.timestamp === 'string' ? e.timestamp : '',
    }))
    .slice(0, HISTORY_LENGTH);
}

function write(entries) {
  try {
    if (entries.length === 0) localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, JSON.stringify(entries));
  } catch {
    // storage full or disabled (private mode): the history is a convenience, the page works without it
  }
}

/** Puts a result first in the history (once per file hash). */
export function remember(result) {
  if (typeof result?.file_hash !== 'string' || !HASH.test(result.file_hash)) return;
  const entry = {
    hash: result.file_hash,
    filename: String(result.filename ?? ''),
    score: typeof result.score === 'number' ? result.score : null,
    unparsed: Boolean(result.parse_error),
    timestamp: typeof result.timestamp === 'string' ? result.timestamp : new Date().toISOString(),
  };
  write([entry, ...readHistory().filter((e) => e.hash !== entry.hash)].slice(0, HISTORY_LENGTH));
}

export function clearHistory() {
  write([]);
}

/** The address of a result: the page with ?analysis=<sha256>. */
export const analysisHref = (hash) => `/?analysis=${hash}`;

/** Fills the history card from localStorage. */
export function renderHistory() {
  const entries = readHistory();
  byId('history-clear').hidden = entries.length === 0;
  replace(
    byId('history-list'),
    ...(entries.length === 0
      ? [h('li', { class: 'empty', text: 'No analyses in this browser yet.' })]
      : entries.map((e) =>
          h(
            'li',
            { 'data-hash': e.hash },
            h('a', { href: analysisHref(e.hash), class: 'history-link', 'data-hash': e.hash, text: show(e.filename) }),
            h(
              'span',
              { class: 'history-meta' },
              h('span', { class: `pill band-${e.unparsed ? 'unparsed' : scoreBand(e.score)}`, text: e.unparsed ? 'not parsed' : `score ${show(e.score)}` }),
              ' ',
              timeEl(e.timestamp),
            ),
          ),
        )),
  );
}
