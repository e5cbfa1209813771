// Shared by the login and register pages: submit, keep the public profile, go on to `next`.
// The answer's token is left alone: the server also set it as an HttpOnly cookie, which is
// what the pages use.
import { nextPath, postData, session } from './api.js';
import { byId, handleSubmit } from './dom.js';

/** Wires `form` to POST `path` with the body `toBody(formData)` builds. */
export function bindAuthForm(form, path, toBody) {
  const error = byId('form-error');
  handleSubmit(form, error, async (data) => {
    session.save(await postData(path, toBody(data), { auth: false }));
    location.assign(nextPath());
  });
  const params = new URLSearchParams(location.search);
  // Sent here by the chat page because the session ended (logged out elsewhere, expired).
  if (params.get('ended')) {
    error.textContent = 'Your session has ended. Please sign in again.';
    error.dataset.kind = 'info';
  }
  // Keep `next` when switching between the login and register pages.
  const other = byId('switch-link');
  const next = params.get('next');
  if (other && next) other.search = new URLSearchParams({ next }).toString();
}

/** The form's value for `name`, trimmed. */
export const field = (data, name) => String(data.get(name) ?? '').trim();
