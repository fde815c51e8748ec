// Shared by the index and the viewer: the service root (relative, so --base-path
// and reverse proxies work), fetch with the bearer token (--auth-token), messages.
const rootMeta = document.querySelector('meta[name="segweb-root"]');
export const root = new URL(rootMeta ? rootMeta.content : './', document.baseURI);

const TOKEN_KEY = 'segweb-token';

export function url(path) {
  return new URL(path, root).href;
}

// A token prompt in a <dialog> (labelled, keyboard-usable); resolves with the
// token or null when cancelled. The token lives in sessionStorage only.
// Requests refused at the same time share one prompt.
let asking = null;
function askToken(reason) {
  if (!asking) asking = promptToken(reason).finally(() => { asking = null; });
  return asking;
}

function promptToken(reason) {
  return new Promise((resolve) => {
    let dlg = document.getElementById('token-dialog');
    if (!dlg) {
      dlg = document.createElement('dialog');
      dlg.id = 'token-dialog';
      dlg.innerHTML = '<form method="dialog"><p id="token-reason"></p>' +
        '<label for="token-input">Access token</label> <input id="token-input" type="password" autocomplete="off"> ' +
        '<button value="ok">Use token</button> <button value="cancel" formnovalidate>Cancel</button></form>';
      document.body.append(dlg);
    }
    dlg.querySelector('#token-reason').textContent = reason;
    dlg.onclose = () => {
      const v = dlg.querySelector('#token-input').value.trim();
      resolve(dlg.returnValue === 'ok' && v ? v : null);
    };
    dlg.showModal();
  });
}

// fetch() relative to the service root with the Authorization header; on 401
// asks for a token once and retries. Throws Error with a readable message.
export async function get(path, opts = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = Object.assign({}, opts.headers || {});
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    let res;
    try {
      res = await fetch(url(path), { headers });
    } catch (e) {
      throw new Error('segweb is not reachable (' + e.message + ')');
    }
    if (res.status === 401 && attempt === 0) {
      const now = sessionStorage.getItem(TOKEN_KEY);
      if (now && now !== token) continue; // another request got a token meanwhile
      const t = await askToken(token ? 'That token was refused. Enter another one.' :
        'This segweb needs an access token.');
      if (!t) throw new Error('An access token is needed to see this page.');
      sessionStorage.setItem(TOKEN_KEY, t);
      continue;
    }
    if (!res.ok) {
      let msg = res.status + ' ' + res.statusText;
      try {
        const j = await res.json();
        if (j && j.error && j.error.message) msg = j.error.message + ' (' + res.status + ')';
      } catch (_) { /* not JSON */ }
      const err = new Error(msg);
      err.status = res.status;
      throw err;
    }
    return res;
  }
  throw new Error('access token refused');
}

export async function getJSON(path) {
  return (await get(path, { headers: { Accept: 'application/json' } })).json();
}

export function say(text, kind = '') {
  const m = document.getElementById('message');
  if (!m) return;
  m.textContent = text || '';
  m.className = kind;
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
