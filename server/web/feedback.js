// Feedback form: validates email, type and message (≤ 500 characters) in the page, then posts to /api/report and shows the server's answer.

import { sendReport } from './api.js';
import { byId } from './dom.js';

const MAX_MESSAGE = 500;
const TYPES = new Set(['bug', 'feature', 'feedback']);
// Same shape the browser's type=email check uses: something@something.something
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Marks a field invalid (or valid again) and writes its message. */
function setFieldError(input, errorEl, message) {
  errorEl.textContent = message;
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

export function initFeedback() {
  const form = /** @type {HTMLFormElement} */ (byId('feedback-form'));
  const email = /** @type {HTMLInputElement} */ (byId('fb-email'));
  const type = /** @type {HTMLSelectElement} */ (byId('fb-type'));
  const message = /** @type {HTMLTextAreaElement} */ (byId('fb-message'));
  const submit = /** @type {HTMLButtonElement} */ (byId('fb-submit'));
  const count = byId('fb-count');
  const status = byId('fb-status');
  const error = byId('fb-error');

  const updateCount = () => {
    const n = message.value.length;
    count.textContent = `${n} / ${MAX_MESSAGE} characters`;
    count.classList.toggle('over', n > MAX_MESSAGE);
  };
  message.addEventListener('input', updateCount);
  updateCount();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.textContent = '';
    status.classList.remove('success');
    error.hidden = true;

    const emailValue = email.value.trim();
    const messageValue = message.value.trim();
    const emailError = !emailValue ? 'Enter your email address.' : !EMAIL.test(emailValue) ? 'Enter a valid email address, like name@example.com.' : '';
    const messageError = !messageValue
      ? 'Write a message.'
      : messageValue.length > MAX_MESSAGE ? `The message is ${messageValue.length} characters; the limit is ${MAX_MESSAGE}.` : '';
    setFieldError(email, byId('fb-email-error'), emailError);
    setFieldError(message, byId('fb-message-error'), messageError);
    if (emailError || messageError || !TYPES.has(type.value)) {
      (emailError ? email : message).focus();
      return;
    }

    submit.disabled = true;
    submit.textContent = 'Sending…';
    try {
      const answer = await sendReport({ email: emailValue, type: type.value, message: messageValue });
      status.textContent = typeof answer?.message === 'string' && answer.message ? answer.message : 'Thank you, your message was sent.';
      status.classList.add('success');
      form.reset();
      updateCount();
    } catch (err) {
      error.textContent = err instanceof Error ? err.message : 'The message could not be sent.';
      error.hidden = false;
    } finally {
      submit.disabled = false;
      submit.textContent = 'Send';
    }
    // the Send button was disabled meanwhile, which drops focus to <body>: put it on the outcome
    (error.hidden ? status : error).focus();
  });
}
