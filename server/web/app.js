// Entry point of the CodeDetect page: wires the upload (button, drag-and-drop, retry), the result and its address, the history, the dashboard, the deployment panel and feedback.

import { analyzeFile, formatBytes, getAnalysis, getHealth, getInfo, getMaxUploadBytes, getStats, setMaxUploadBytes } from './api.js';
import { renderStats } from './dashboard.js';
import { renderHealth, renderInfo } from './deployment.js';
import { byId } from './dom.js';
import { initFeedback } from './feedback.js';
import { addressedAnalysis, clearHistory, remember, renderHistory } from './history.js';
import { downloadReport } from './report.js';
import { jumpToLine, markResultStale, renderResult } from './result.js';

const HEALTH_POLL_MS = 30_000;
const HASH = /^[0-9a-f]{64}$/;

const dropZone = byId('drop-zone');
const fileInput = /** @type {HTMLInputElement} */ (byId('file-input'));
const chooseButton = /** @type {HTMLButtonElement} */ (byId('choose-button'));
const progress = byId('progress');
const uploadStatus = byId('upload-status');
const uploadError = byId('upload-error');
const retryRow = byId('retry-row');
const retryButton = /** @type {HTMLButtonElement} */ (byId('retry-button'));
const downloadButton = /** @type {HTMLButtonElement} */ (byId('download-button'));

/** The result on screen, for the report download. */
let current = null;
let busy = false;
/** The file whose upload failed with an answer worth retrying, and the countdown before it may be sent again. */
let retryFile = null;
let countdown = 0;

const megabytes = (bytes) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;

/** The reason `file` cannot be uploaded, checked as the server would; '' when it may go. The server still decides. */
export function checkFile(file) {
  if (!file) return 'No file selected.';
  if (!/\.py$/i.test(file.name)) return `Only .py files are allowed: “${file.name}” is not a Python file.`;
  const max = getMaxUploadBytes();
  if (file.size > max) return `“${file.name}” is ${megabytes(file.size)}; files may be at most ${formatBytes(max)}.`;
  return '';
}

function stopRetry() {
  clearInterval(countdown);
  countdown = 0;
  retryFile = null;
  retryRow.hidden = true;
}

/** Offers "Try again" for the same file, enabled once the server's Retry-After has passed (counted down on the button). */
function offerRetry(file, seconds) {
  stopRetry();
  retryFile = file;
  retryRow.hidden = false;
  // counted against the clock, not in ticks: a background tab's timers are throttled (to one a minute in Chromium)
  const until = Date.now() + Math.max(0, Math.ceil(seconds ?? 0)) * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    retryButton.disabled = left > 0;
    retryButton.textContent = left > 0 ? `Try again in ${left} s` : 'Try again';
    if (left <= 0) {
      clearInterval(countdown);
      countdown = 0;
      if (seconds) uploadStatus.textContent = `You can try “${file.name}” again now.`;
    }
  };
  tick();
  if (retryButton.disabled) countdown = window.setInterval(tick, 1000);
}

/** Shows an upload error and puts keyboard focus on it (the button that was pressed may be disabled or gone). */
function showError(message, { focus = true } = {}) {
  uploadError.textContent = message;
  uploadError.hidden = false;
  uploadStatus.textContent = '';
  if (focus) uploadError.focus();
}

function clearError() {
  uploadError.textContent = '';
  uploadError.hidden = true;
}

function setBusy(on, fileName = '') {
  busy = on;
  chooseButton.disabled = on;
  dropZone.classList.toggle('busy', on);
  byId('upload').setAttribute('aria-busy', String(on));
  progress.hidden = !on;
  if (on) uploadStatus.textContent = `Analyzing ${fileName}… pylint, bandit and radon are reading it.`;
}

/** Loads one panel's data and renders it; a failure is shown in the panel's own error line. */
async function refreshPanel(load, render, errorId, what) {
  const errorEl = byId(errorId);
  try {
    render(await load());
    errorEl.hidden = true;
  } catch (err) {
    errorEl.textContent = `${what} unavailable: ${err instanceof Error ? err.message : 'unknown error'}`;
    errorEl.hidden = false;
  }
}

/** The deployment panel, and the server's upload limit for the page's own check and hint. */
function renderInfoAndLimit(info) {
  renderInfo(info);
  setMaxUploadBytes(info?.environment?.max_upload_bytes);
  byId('upload-limit').textContent = formatBytes(getMaxUploadBytes());
}

const refreshStats = () => refreshPanel(getStats, renderStats, 'stats-error', 'Statistics');
const refreshInfo = () => refreshPanel(getInfo, renderInfoAndLimit, 'info-error', 'Deployment information');

async function refreshHealth() {
  try {
    renderHealth(await getHealth());
  } catch {
    renderHealth(null);
  }
}

/** Shows a result and gives it its address (?analysis=<sha256>); a new upload (push) also goes into the history. */
function show(result, code, { push }) {
  current = result;
  renderResult(result, code);
  if (push) {
    remember(result);
    renderHistory();
  }
  const href = `/?analysis=${result.file_hash}`;
  if (HASH.test(result.file_hash ?? '') && `${location.pathname}${location.search}` !== href) {
    if (push) history.pushState({ analysis: result.file_hash }, '', href);
    else history.replaceState({ analysis: result.file_hash }, '', href);
  }
}

/** Moves focus to the result heading, scrolled into view (after every layout change, so it stays there). */
function focusResult() {
  const heading = byId('result-heading');
  heading.focus({ preventScroll: true });
  const reduce = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  heading.scrollIntoView({ behavior: reduce ? 'auto' : 'smooth', block: 'start' });
}

/** Validates, uploads and shows one file. */
async function analyze(file) {
  if (busy) return;
  clearError();
  stopRetry();
  const problem = checkFile(file);
  if (problem) {
    showError(problem);
    if (current) markResultStale(file?.name ?? '');
    return;
  }
  setBusy(true, file.name);
  let result;
  try {
    result = await analyzeFile(file);
  } catch (err) {
    setBusy(false);
    showError(err instanceof Error && err.message ? err.message : 'The analysis failed for an unknown reason.', { focus: false });
    if (current) markResultStale(file.name);
    if (err?.retryable) offerRetry(file, err.retryAfter);
    uploadError.focus();
    return;
  }
  const code = typeof result?.original_code === 'string' ? null : await file.text().catch(() => null);
  // the progress row goes before the heading is focused and scrolled to, so nothing moves it afterwards
  setBusy(false);
  show(result, code, { push: true });
  uploadStatus.textContent = result?.parse_error
    ? `Analysis of ${result.filename ?? file.name} finished: it could not be parsed.`
    : `Analysis of ${result.filename ?? file.name} finished: score ${result.score} out of 100.`;
  focusResult();
  void refreshStats();
}

/** Shows the analysis the address names (?analysis=<sha256>), e.g. after a reload or from the history. */
async function showAddressed({ focus }) {
  const addressed = addressedAnalysis(location.search);
  if (!addressed || 'error' in addressed) {
    current = null;
    byId('result').hidden = true;
    if (addressed) showError(addressed.error, { focus });
    return;
  }
  const { hash } = addressed;
  if (current?.file_hash === hash) return;
  // an upload or another address may have taken the page while this one loaded: its answer is then dropped
  const stillAddressed = () => addressedAnalysis(location.search)?.hash === hash && current?.file_hash !== hash;
  try {
    const result = await getAnalysis(hash);
    if (!stillAddressed()) return;
    show(result, null, { push: false });
    if (focus) focusResult();
  } catch (err) {
    if (!stillAddressed()) return;
    showError(`The analysis in this address could not be shown: ${err instanceof Error ? err.message : 'unknown error'}`, { focus });
  }
}

/** The one file of a selection or drop, or an error message. */
function pickFile(files) {
  if (!files || files.length === 0) return { error: 'No file selected.' };
  if (files.length > 1) return { error: `Please choose one file at a time (${files.length} were given).` };
  return { file: files[0] };
}

chooseButton.addEventListener('click', () => fileInput.click());
fileInput.addEventListener('change', () => {
  const { file, error } = pickFile(fileInput.files);
  fileInput.value = ''; // choosing the same file again must fire 'change' again
  if (error) showError(error);
  else void analyze(file);
});

// Drag and drop. dragenter/dragleave fire for children too, so count them.
let dragDepth = 0;
const hasFiles = (event) => Array.from(event.dataTransfer?.types ?? []).includes('Files');
dropZone.addEventListener('dragenter', (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  dragDepth += 1;
  dropZone.classList.add('dragover');
});
dropZone.addEventListener('dragover', (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  if (event.dataTransfer) event.dataTransfer.dropEffect = busy ? 'none' : 'copy';
  dropZone.classList.add('dragover');
});
dropZone.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dropZone.classList.remove('dragover');
});
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  dropZone.classList.remove('dragover');
  const { file, error } = pickFile(event.dataTransfer?.files);
  if (error) showError(error);
  else void analyze(file);
});
// A file dropped beside the zone must not make the browser navigate away to it.
for (const type of ['dragover', 'drop']) {
  window.addEventListener(type, (event) => {
    if (hasFiles(event) && !dropZone.contains(/** @type {Node} */ (event.target))) event.preventDefault();
  });
}

downloadButton.addEventListener('click', () => {
  if (current) downloadReport(current);
});
retryButton.addEventListener('click', () => {
  if (retryFile && !retryButton.disabled) void analyze(retryFile);
});
// A finding's line number opens the code view at that line (the URL keeps the result's address).
byId('result').addEventListener('click', (event) => {
  const link = /** @type {Element} */ (event.target).closest?.('a.line-link');
  if (!link) return;
  event.preventDefault();
  jumpToLine(Number(link.getAttribute('data-line')));
});
byId('history-list').addEventListener('click', (event) => {
  const link = /** @type {Element} */ (event.target).closest?.('a.history-link');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  history.pushState({ analysis: link.getAttribute('data-hash') }, '', link.getAttribute('href'));
  clearError();
  void showAddressed({ focus: true });
});
byId('history-clear').addEventListener('click', () => {
  clearHistory();
  renderHistory();
  byId('history-status').textContent = 'The history in this browser was cleared.';
  // an instant scroll after the focus: a smooth scroll still running (to a result opened just before) would carry it away
  const heading = byId('history-heading');
  heading.focus({ preventScroll: true });
  window.scrollTo({ top: window.scrollY, behavior: 'instant' }); // stops a smooth scroll in flight where it is
  heading.scrollIntoView({ block: 'nearest', behavior: 'instant' });
});
window.addEventListener('popstate', () => {
  clearError();
  void showAddressed({ focus: true });
});
byId('refresh-button').addEventListener('click', () => {
  void refreshStats();
  void refreshHealth();
  void refreshInfo();
});

initFeedback();
renderHistory();
void showAddressed({ focus: false });
void refreshStats();
void refreshInfo();
void refreshHealth();
setInterval(() => {
  if (document.visibilityState === 'visible') void refreshHealth();
}, HEALTH_POLL_MS);
