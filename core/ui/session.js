// Who is signed in: the token is checked on entry and whenever it changes
// (/v1/acl/token/self), its name, type and expiry shown in the header, and a "sign in" form
// offered wherever the agent refuses for want of a token. A token the agent does not know is
// never kept. Views re-render on the window's `caravan:token` event.

import { token, whoAmI } from './api.js';
import { h, notice, when } from './dom.js';

const who = () => document.getElementById('who');
const status = () => document.getElementById('status');

/** The header's line about the token in use. */
function show(state) {
  const el = who();
  el.replaceChildren();
  el.removeAttribute('title');
  if (!state.acl) {
    el.dataset.state = 'no-acl';
    el.textContent = 'ACLs are off on this agent: no token is needed';
    return;
  }
  if (!state.self) {
    el.dataset.state = 'anonymous';
    return;
  }
  const t = state.self;
  el.dataset.state = 'signed-in';
  const expires = t.ExpirationTime ? `expires ${when(t.ExpirationTime, true)}` : 'never expires';
  el.append('Signed in as ', h('strong', null, t.Name || t.AccessorID), ` (${t.Type}, ${expires})`);
  el.title = `Accessor ${t.AccessorID}`;
}

/**
 * Check the stored token on entry; one the agent refuses is dropped. Without a token there
 * is nothing to check (and asking would log a refusal in the console).
 */
export async function checkToken() {
  if (!token.get()) {
    show({ acl: true, self: null });
    return;
  }
  try {
    const state = await whoAmI();
    if (state.acl && !state.self) {
      token.set('');
      status().textContent = `The stored token was not accepted (${state.error}): requests are anonymous.`;
    }
    show(state);
  } catch (err) {
    status().textContent = err.message;
  }
}

/** Use `secret` if the agent accepts it (or runs without ACLs); true when it was kept. */
export async function signIn(secret, remember) {
  const previous = token.get();
  const wasRemembered = token.remembered();
  token.set(secret, remember);
  if (!secret) {
    show({ acl: true, self: null });
    status().textContent = 'Signed out: requests are anonymous.';
    window.dispatchEvent(new Event('caravan:token'));
    return true;
  }
  let state;
  try {
    state = await whoAmI();
  } catch (err) {
    token.set(previous, wasRemembered);
    status().textContent = err.message;
    return false;
  }
  if (state.acl && !state.self) {
    token.set(previous, wasRemembered);
    status().textContent = `That token was not accepted (${state.error}).`;
    return false;
  }
  show(state);
  status().textContent = remember ? 'Signed in; remembered in this browser.' : 'Signed in for this tab.';
  window.dispatchEvent(new Event('caravan:token'));
  return true;
}

/** The sign-in form shown in a view the agent refused. */
export function signInForm() {
  const input = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const remember = h('input', { type: 'checkbox' });
  const result = h('div');
  const form = h('form', { class: 'signin', 'aria-label': 'Sign in with an ACL token' },
    h('h2', null, token.get() ? 'Sign in with another token' : 'Sign in with an ACL token'),
    h('label', null, 'Secret ID ', input),
    h('label', { class: 'check' }, remember, ' Remember in this browser'),
    h('button', { type: 'submit' }, 'Sign in'), result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!(await signIn(input.value.trim(), remember.checked))) {
      result.replaceChildren(notice(status().textContent));
      input.focus();
    }
  });
  return form;
}

/** An error as the page shows it: a refusal comes with the sign-in form (one per view). */
export function failure(err) {
  if (err.status !== 403 || document.querySelector('main .signin')) return notice(err.message);
  return h('div', null, notice(err.message), signInForm());
}
