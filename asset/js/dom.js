// Small DOM helpers. Text only ever goes in through textContent / Text nodes, never as markup.

export const byId = (id) => document.getElementById(id);

/**
 * createElement with props: `class`, `text` (textContent), `dataset`, `on<event>` listeners,
 * anything else as an attribute (null/false skipped). String children become Text nodes.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v != null) node.dataset[k] = v;
    } else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

/**
 * Runs `action(formData)` on submit with the form's buttons disabled (no double submits).
 * A returned string is shown in `out` as success; a thrown error's message (the server's
 * msg) is shown as an error. Returns nothing.
 */
export function handleSubmit(form, out, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (form.getAttribute('aria-busy') === 'true') return;
    const buttons = [...form.querySelectorAll('button')];
    form.setAttribute('aria-busy', 'true');
    buttons.forEach((b) => (b.disabled = true));
    out.textContent = '';
    delete out.dataset.kind;
    try {
      const note = await action(new FormData(form));
      if (note) {
        out.textContent = note;
        out.dataset.kind = 'ok';
      }
    } catch (err) {
      out.textContent = err.message || 'Something went wrong.';
      out.dataset.kind = 'error';
    } finally {
      form.removeAttribute('aria-busy');
      buttons.forEach((b) => (b.disabled = false));
    }
  });
}
