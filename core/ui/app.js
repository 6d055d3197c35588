// The page's entry point: the token field and the fragment router (#/, #/alloc/ID,
// #/alloc/ID/files/PATH[?offset=N], #/alloc/ID/logs/TASK/TYPE, #/job/ID/logs[?namespace=NS],
// #/node[/ID]).

import { token } from './api.js';
import { allocationsView, allocationView } from './allocs.js';
import { notice } from './dom.js';
import { filesView } from './files.js';
import { jobLogsView } from './joblogs.js';
import { logsView } from './logs.js';
import { nodeView } from './node.js';
import { checkToken, signIn } from './session.js';

const view = document.getElementById('view');
const status = document.getElementById('status');
let leave = [];

function render() {
  for (const fn of leave.splice(0)) fn();
  const controller = new AbortController();
  leave.push(() => controller.abort());
  // `#/view/parts?key=value`: the parts name the view, the parameters its state (a file's
  // offset), kept up to date with history.replaceState so that a reload or a link returns there.
  const [route, search = ''] = location.hash.split('?');
  const ctx = { signal: controller.signal, onLeave: (fn) => leave.push(fn), params: new URLSearchParams(search) };
  const parts = route.replace(/^#\/?/, '').split('/').filter((p, i) => p || i > 0).map(decodeURIComponent);
  const [section, id, sub, ...rest] = parts;
  document.getElementById('nav-allocs').setAttribute('aria-current', section !== 'node' ? 'page' : 'false');
  document.getElementById('nav-node').setAttribute('aria-current', section === 'node' ? 'page' : 'false');
  if (!section) {
    document.title = 'Allocations · caravan';
    allocationsView(ctx, view);
  } else if (section === 'alloc' && id && !sub) {
    document.title = `Allocation ${id.slice(0, 8)} · caravan`;
    allocationView(ctx, view, id);
  } else if (section === 'alloc' && id && sub === 'files') {
    document.title = `Files ${id.slice(0, 8)} · caravan`;
    filesView(ctx, view, id, rest.join('/'));
  } else if (section === 'alloc' && id && sub === 'logs' && rest.length === 2) {
    document.title = `Logs ${rest[0]} · caravan`;
    logsView(ctx, view, id, rest[0], rest[1]);
  } else if (section === 'job' && id && sub === 'logs' && !rest.length) {
    document.title = `Logs of job ${id} · caravan`;
    jobLogsView(ctx, view, id, ctx.params.get('namespace') || 'default');
  } else if (section === 'node') {
    document.title = 'Node · caravan';
    nodeView(ctx, view, id);
  } else {
    document.title = 'Not found · caravan';
    view.replaceChildren(notice(`Not found: there is no view at ${location.hash}.`));
  }
}

const input = document.getElementById('token');
const remember = document.getElementById('token-remember');
input.value = token.get();
remember.checked = token.remembered();
document.getElementById('token-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!(await signIn(input.value.trim(), remember.checked))) input.value = token.get();
});
document.getElementById('token-clear').addEventListener('click', () => {
  input.value = '';
  remember.checked = false;
  signIn('', false);
});
// A sign-in from a view's own form: the header follows, and the view is drawn again.
window.addEventListener('caravan:token', () => {
  input.value = token.get();
  remember.checked = token.remembered();
  render();
});
// The skip link moves focus; its fragment is not a view.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  view.focus();
});
window.addEventListener('hashchange', () => {
  status.textContent = '';
  render();
  view.focus({ preventScroll: true });
});
checkToken().then(() => {
  input.value = token.get();
  render();
  document.body.dataset.ready = 'true';
});
