// Casebook console: browser sign-in. The browser enrols like a phone: a P-256 key made by
// WebCrypto as non-extractable (the private key never leaves the browser's key store), kept
// in IndexedDB, its public half sent with the one-time enrolment code. Signing in signs a
// fresh single-use challenge from the server; the session itself is an HttpOnly cookie this
// script never sees. On other pages, a session in its second half is renewed the same way.
'use strict';
(() => {
  const DB = 'casebook-console';
  const STORE = 'keys';
  const SLOT = 'device';

  function idb() {
    return new Promise((ok, fail) => {
      const r = indexedDB.open(DB, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(STORE);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
  }
  async function op(mode, f) {
    const db = await idb();
    return new Promise((ok, fail) => {
      const req = f(db.transaction(STORE, mode).objectStore(STORE));
      req.onsuccess = () => ok(req.result);
      req.onerror = () => fail(req.error);
    });
  }
  const load = () => op('readonly', (s) => s.get(SLOT)).then((v) => v || null);
  const save = (v) => op('readwrite', (s) => s.put(v, SLOT));
  const forget = () => op('readwrite', (s) => s.delete(SLOT));

  const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
  const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const unhex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));

  async function post(path, body) {
    const r = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = new Error(data.message || 'the server answered ' + r.status);
      e.code = data.error;
      throw e;
    }
    return data;
  }

  // Sign "casebook-session-v1\0" ‖ device id (16 bytes) ‖ challenge, as a phone does.
  async function signIn(entry) {
    const { challenge } = await post('/console/api/challenge', { device_id: entry.device_id });
    const tag = new TextEncoder().encode('casebook-session-v1\0');
    const id = unhex(entry.device_id);
    const c = unb64(challenge);
    const payload = new Uint8Array(tag.length + id.length + c.length);
    payload.set(tag);
    payload.set(id, tag.length);
    payload.set(c, tag.length + id.length);
    const sig = new Uint8Array(
      await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, entry.key, payload),
    );
    const opened = await post('/console/api/session', {
      device_id: entry.device_id,
      challenge,
      signature: b64(sig),
    });
    // The forms of this page now carry the new session's token.
    for (const field of document.querySelectorAll('input[name=csrf]')) {
      field.value = opened.csrf;
    }
  }

  async function enrol(code, name) {
    const pair = await crypto.subtle.generateKey(
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign', 'verify'],
    );
    const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    const { device_id } = await post('/console/api/enrol', {
      code,
      public_key: b64(raw),
      device_name: name,
    });
    const entry = { device_id, key: pair.privateKey };
    await save(entry);
    return entry;
  }

  function say(text, isError) {
    const status = document.getElementById('status');
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('error', Boolean(isError));
  }

  async function refused(e) {
    if (e.code === 'device_revoked') {
      await forget();
      // One message, not two: the server's notice (?reason=revoked) gives way to this one.
      const notice = document.querySelector('p.notice');
      if (notice) notice.hidden = true;
      say("This browser's access has been revoked. Enrol it again with a new code.", true);
      show(null);
    } else {
      say(e.message, true);
    }
  }

  function show(entry) {
    const known = document.getElementById('signin-known');
    if (known) known.hidden = !entry;
  }

  async function signinPage() {
    const entry = await load().catch(() => null);
    show(entry);
    document.getElementById('signin').addEventListener('click', async () => {
      const current = await load();
      if (!current) return show(null);
      say('Signing in…');
      try {
        await signIn(current);
        location.assign('/console/');
      } catch (e) {
        await refused(e);
      }
    });
    document.getElementById('forget').addEventListener('click', async () => {
      await forget();
      show(null);
      say('The key of this browser has been deleted.');
    });
    document.getElementById('enrol-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const code = document.getElementById('code').value.trim();
      const name = document.getElementById('device-name').value.trim();
      if (!code) {
        say('Type the enrolment code you were given.', true);
        return;
      }
      say('Enrolling this browser…');
      try {
        const fresh = await enrol(code, name || 'Browser');
        await signIn(fresh);
        location.assign('/console/');
      } catch (e) {
        await refused(e);
      }
    });
  }

  async function renew() {
    const entry = await load().catch(() => null);
    if (entry) await signIn(entry).catch(() => {});
  }

  document.addEventListener('DOMContentLoaded', () => {
    if (document.getElementById('enrol-form')) {
      signinPage();
    } else if (document.body.dataset.renew === '1') {
      renew();
    }
  });
})();
