// Entry point of the CodeDetect page: wires the upload (button and drag-and-drop), the result, the dashboard, the deployment panel and feedback.

import { analyzeFile, getHealth, getInfo, getStats, MAX_UPLOAD_BYTES } from './api.js';
import { renderStats } from './dashboard.js';
import { renderHealth, renderInfo } from './deployment.js';
import { byId } from './dom.js';
import { initFeedback } from './feedback.js';
import { downloadReport } from './report.js';
import { renderResult } from './result.js';

const HEALTH_POLL_MS = 30_000;

const dropZone = byId('drop-zone');
const fileInput = /** @type {HTMLInputElement} */ (byId('file-input'));
const chooseButton = /** @type {HTMLButtonElement} */ (byId('choose-button'));
const progress = byId('progress');
const progressText = byId('progress-text');
const uploadStatus = byId('upload-status');
const uploadError = byId('upload-error');
const downloadButton = /** @type {HTMLButtonElement} */ (byId('download-button'));

/** The result on screen, for the report download. */
let current = null;
let busy = false;

const megabytes = (bytes) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;

/** The reason `file` cannot be uploaded, checked as the server would; '' when it may go. The server still decides. */
export function checkFile(file) {
  if (!file) return 'No file selected.';
  if (!/\.py$/i.test(file.name)) return `Only .py files are allowed: “${file.name}” is not a Python file.`;
  if (file.size > MAX_UPLOAD_BYTES) return `“${file.name}” is ${megabytes(file.size)}; files may be at most 5 MB.`;
  return '';
}

function showError(message) {
  uploadError.textContent = message;
  uploadError.hidden = false;
  uploadStatus.textContent = '';
}

function clearError() {
  uploadError.textContent = '';
  uploadError.hidden = true;
}

function setBusy(on, fileName = '') {
  busy = on;
  chooseButton.disabled = on;
  chooseButton.textContent = on ? 'Analyzing…' : 'Choose a file';
  dropZone.classList.toggle('busy', on);
  byId('upload').setAttribute('aria-busy', String(on));
  progress.hidden = !on;
  progressText.textContent = on ? `Analyzing ${fileName}… pylint, bandit and radon are reading it.` : '';
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

const refreshStats = () => refreshPanel(getStats, renderStats, 'stats-error', 'Statistics');
const refreshInfo = () => refreshPanel(getInfo, renderInfo, 'info-error', 'Deployment information');

async function refreshHealth() {
  try {
    renderHealth(await getHealth());
  } catch {
    renderHealth(null);
  }
}

/** Validates, uploads and shows one file. */
async function analyze(file) {
  if (busy) return;
  clearError();
  const problem = checkFile(file);
  if (problem) {
    showError(problem);
    return;
  }
  setBusy(true, file.name);
  uploadStatus.textContent = `Analyzing ${file.name}…`;
  try {
    const result = await analyzeFile(file);
    current = result;
    renderResult(result);
    uploadStatus.textContent = `Analysis of ${result.filename ?? file.name} finished: score ${result.score} out of 100.`;
    const heading = byId('result-heading');
    heading.focus({ preventScroll: true });
    const reduce = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    heading.scrollIntoView({ behavior: reduce ? 'auto' : 'smooth', block: 'start' });
    void refreshStats();
  } catch (err) {
    showError(err instanceof Error && err.message ? err.message : 'The analysis failed for an unknown reason.');
  } finally {
    setBusy(false);
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
byId('refresh-button').addEventListener('click', () => {
  void refreshStats();
  void refreshHealth();
  void refreshInfo();
});

initFeedback();
void refreshStats();
void refreshInfo();
void refreshHealth();
setInterval(() => {
  if (document.visibilityState === 'visible') void refreshHealth();
}, HEALTH_POLL_MS);
