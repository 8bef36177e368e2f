// Small DOM helpers: build elements whose text always goes in as textContent, so uploaded code and findings can never become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Sets attributes; `class` maps to the class list, `text` to textContent. Inline `style` is refused (the CSP forbids it).
 * @param {Element} el
 * @param {Record<string, string | number | boolean | null | undefined>} attrs
 */
function applyAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'style') throw new Error('inline style attributes are not allowed by the CSP; use a class');
    if (name === 'text') el.textContent = String(value);
    else if (name === 'class') el.setAttribute('class', String(value));
    else el.setAttribute(name, value === true ? '' : String(value));
  }
}

/** @param {Element} el @param {Array<Node | string | number | null | undefined | false>} children */
function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/**
 * Creates an HTML element.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/**
 * Creates an SVG element.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Replaces an element's children. @param {Element} el @param {...(Node | string | null | undefined | false)} children */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** @param {string} id @returns {HTMLElement} */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
}

/** A displayable value: null, undefined and empty strings become an em dash. */
export function show(value) {
  if (value === null || value === undefined) return '—';
  const text = String(value).trim();
  return text === '' ? '—' : text;
}

const numberFormat = new Intl.NumberFormat();
/** @param {unknown} n */
export function formatNumber(n) {
  return typeof n === 'number' && Number.isFinite(n) ? numberFormat.format(n) : '—';
}

/** A `<time>` for an ISO timestamp, in the reader's locale; unparsable values are shown as they are. */
export function timeEl(iso) {
  if (typeof iso !== 'string' || !iso) return h('span', { text: '—' });
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', { text: iso });
  return h('time', { datetime: iso, title: iso, text: date.toLocaleString() });
}

/** Quality band of a 0–100 score: good (≥ 80), fair (≥ 50) or poor. */
export function scoreBand(score) {
  if (typeof score !== 'number' || !Number.isFinite(score)) return 'unknown';
  if (score >= 80) return 'good';
  if (score >= 50) return 'fair';
  return 'poor';
}

export const BAND_LABEL = { good: 'Good', fair: 'Needs work', poor: 'Poor', unknown: '' };

/** Only http(s) links are followed; anything else (javascript:, data:) is shown as text. */
export function safeHttpUrl(value) {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}
