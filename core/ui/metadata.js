// The node's metadata: GET/POST /v1/client/metadata. Every key can be edited in place; a
// dynamic key is removed at once, a static one (from the agent's configuration) only after a
// confirmation, and a static key changed or removed can be restored to its configured value.
// The form stays put, so focus stays where the reader is.

import { ApiError, getJSON, request } from './api.js';
import { h, notice, table } from './dom.js';
import { failure } from './session.js';

/** The metadata section of the node view; `nodeQuery` adds `?node_id=` on a server. */
export function metadataSection(ctx, nodeQuery) {
  const el = h('div');
  const list = h('div', { class: 'scroll' });
  const result = h('div', { class: 'result', role: 'status' });
  const keyInput = h('input', { id: 'meta-key', required: true, spellcheck: 'false', autocomplete: 'off' });
  const valueInput = h('input', { id: 'meta-value', spellcheck: 'false', autocomplete: 'off' });
  const form = h('form', { class: 'meta-form', 'aria-label': 'Set a metadata key' },
    h('label', { for: 'meta-key' }, 'Key'), keyInput,
    h('label', { for: 'meta-value' }, 'Value'), valueInput,
    h('button', { type: 'submit' }, 'Set'));
  let shown = false;

  /** POST the changes; on success draw the new table, put focus on `focus()`'s element. */
  const apply = async (changes, message, focus) => {
    result.replaceChildren();
    try {
      const res = await request(`/v1/client/metadata${nodeQuery()}`, {
        method: 'POST', body: JSON.stringify({ Meta: changes }), signal: ctx.signal,
      });
      draw(await res.json());
      result.replaceChildren(notice(message, 'ok'));
      focus?.()?.focus();
      return true;
    } catch (err) {
      if (err.name === 'AbortError') return false;
      const text = err instanceof ApiError && err.status === 403
        ? `${err.message} Writing metadata needs node:write.` : err.message;
      result.replaceChildren(notice(text));
      return false;
    }
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    if (await apply({ [key]: valueInput.value }, `Set ${key}.`, () => keyInput)) {
      keyInput.value = '';
      valueInput.value = '';
    }
  });

  const rowButton = (key, action) => () => list.querySelector(`button[data-key="${CSS.escape(key)}"][data-action="${action}"]`);

  function draw(m) {
    const stat = m.Static || {};
    const dyn = m.Dynamic || {};
    const meta = m.Meta || {};
    const keys = Object.keys({ ...stat, ...dyn }).sort();
    const rows = keys.map((key) => {
      const isStatic = Object.hasOwn(stat, key);
      const present = Object.hasOwn(meta, key);
      const changed = isStatic && (!present || meta[key] !== stat[key]);
      const source = !isStatic ? 'dynamic' : !present ? 'static, removed' : changed ? 'static, changed' : 'static';
      const value = h('span', { class: 'mono' }, present ? meta[key] : '(removed)');
      const actions = h('span', { class: 'actions' });
      const button = (text, action, onclick, label) => h('button', {
        type: 'button', class: 'small', 'data-key': key, 'data-action': action, 'aria-label': `${label} ${key}`, onclick,
      }, text);
      const edit = () => {
        const input = h('input', { class: 'mono', value: present ? meta[key] : '', 'aria-label': `New value of ${key}`, spellcheck: 'false' });
        const save = () => apply({ [key]: input.value }, `Set ${key}.`, rowButton(key, 'edit'));
        const cancel = () => { value.replaceChildren(present ? meta[key] : '(removed)'); actions.hidden = false; rowButton(key, 'edit')()?.focus(); };
        input.addEventListener('keydown', (e) => {
          if (e.key === 'Enter') save();
          if (e.key === 'Escape') cancel();
        });
        value.replaceChildren(input, ' ', h('button', { type: 'button', class: 'small', onclick: save }, 'Save'),
          ' ', h('button', { type: 'button', class: 'small', onclick: cancel }, 'Cancel'));
        actions.hidden = true;
        input.focus();
        input.select();
      };
      const remove = () => apply({ [key]: null }, `Removed ${key}.`, () => keyInput);
      const confirmRemove = () => {
        const keep = h('button', { type: 'button', class: 'small', onclick: () => { actions.replaceChildren(...buttons()); rowButton(key, 'remove')()?.focus(); } }, 'Keep');
        actions.replaceChildren(h('span', { role: 'alert' }, `${key} comes from the agent's configuration. Remove it? `),
          h('button', { type: 'button', class: 'small danger', onclick: remove }, 'Remove'), ' ', keep);
        keep.focus();
      };
      const buttons = () => [
        button('Edit', 'edit', edit, 'Edit'),
        present && button('Remove', 'remove', isStatic ? confirmRemove : remove, 'Remove'),
        changed && button('Restore', 'restore', () => apply({ [key]: stat[key] }, `Restored ${key} to ${stat[key]}.`, rowButton(key, 'edit')), 'Restore'),
      ];
      actions.append(...buttons().filter(Boolean));
      return [h('span', { class: 'mono' }, key), value, source, actions];
    });
    list.replaceChildren(table(`${keys.length} keys`, ['Key', 'Value', 'Source', ''], rows, { class: 'meta-table' }));
    if (!shown) {
      el.replaceChildren(list, form, result);
      shown = true;
    }
  }

  getJSON(`/v1/client/metadata${nodeQuery()}`, { signal: ctx.signal }).then(draw).catch((err) => {
    if (err.name !== 'AbortError') el.replaceChildren(failure(err));
  });
  return el;
}
