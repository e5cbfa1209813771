// Shared by the login and register pages: submit, store the session, go on to `next`.
import { nextPath, postData, session } from './api.js';
import { byId, handleSubmit } from './dom.js';

/** Wires `form` to POST `path` with the body `toBody(formData)` builds. */
export function bindAuthForm(form, path, toBody) {
  const error = byId('form-error');
  handleSubmit(form, error, async (data) => {
    // No token on this request: a stale one in storage must not get in the way.
    session.save(await postData(path, toBody(data), { auth: false }));
    location.assign(nextPath());
  });
  // Keep `next` when switching between the login and register pages.
  const other = byId('switch-link');
  const next = new URLSearchParams(location.search).get('next');
  if (other && next) other.search = new URLSearchParams({ next }).toString();
}

/** The form's value for `name`, trimmed. */
export const field = (data, name) => String(data.get(name) ?? '').trim();
