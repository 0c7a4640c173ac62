// The dashboard's pages, drawn from the dashboard's JSON: /_web/services (every service),
// /_web/events (server-sent registry changes, applied as they come, so a service that stops
// leaves an open page), /_web/call (a call through the gateway) and /_web/cli (terminal).
// Plain DOM, no framework, no build step; text goes in with textContent, never as HTML.
'use strict';
(function () {
  const main = document.getElementById('main');
  const live = document.getElementById('live');
  const page = location.pathname.replace(/\/+$/, '') || '/';
  const params = new URLSearchParams(location.search);
  // name -> Map(version -> registry service)
  const services = new Map();
  let info = { title: document.title, namespace: null, stats: false };
  let redraw = function () {};

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function sortedNames() { return [...services.keys()].sort(); }
  function versionsOf(name) {
    const m = services.get(name);
    return m ? [...m.values()].sort((a, b) => a.version.localeCompare(b.version)) : [];
  }
  function nodeCount(name) { return versionsOf(name).reduce((n, v) => n + (v.nodes || []).length, 0); }
  function endpointsOf(name) {
    for (const v of versionsOf(name)) if (v.endpoints && v.endpoints.length) return v.endpoints;
    return [];
  }

  function put(svc) {
    if (!services.has(svc.name)) services.set(svc.name, new Map());
    const versions = services.get(svc.name);
    const old = versions.get(svc.version);
    if (!old) { versions.set(svc.version, { ...svc, nodes: [...(svc.nodes || [])] }); return; }
    for (const n of svc.nodes || []) {
      old.nodes = old.nodes.filter((o) => o.id !== n.id);
      old.nodes.push(n);
    }
    if (svc.endpoints && svc.endpoints.length) old.endpoints = svc.endpoints;
    if (svc.metadata) old.metadata = svc.metadata;
  }

  function remove(svc) {
    const versions = services.get(svc.name);
    if (!versions) return;
    const old = versions.get(svc.version);
    if (old) {
      const gone = new Set((svc.nodes || []).map((n) => n.id));
      old.nodes = gone.size ? old.nodes.filter((n) => !gone.has(n.id)) : [];
      if (!old.nodes.length) versions.delete(svc.version);
    }
    if (!versions.size) services.delete(svc.name);
  }

  async function load() {
    const rsp = await fetch('/_web/services', { headers: { Accept: 'application/json' } });
    const body = await rsp.json();
    if (!rsp.ok) throw new Error(body.detail || rsp.statusText);
    info = body;
    services.clear();
    for (const s of body.services || []) put(s);
  }

  function setLive(text, up) {
    live.textContent = text;
    live.className = up ? 'up' : 'down';
  }

  // Opens the event stream; on `ready` (the watch is open) loads the listing, then applies
  // every change. Events that come while the listing loads are applied after it.
  function connect() {
    const es = new EventSource('/_web/events');
    let queue = null;
    es.addEventListener('ready', async () => {
      queue = [];
      try {
        await load();
      } catch (e) {
        setLive('registry unavailable: ' + e.message, false);
      }
      for (const ch of queue) apply(ch);
      queue = null;
      setLive('live', true);
      addStatsLink();
      redraw();
      document.body.dataset.loaded = '1';
    });
    es.addEventListener('registry', (ev) => {
      let ch;
      try { ch = JSON.parse(ev.data); } catch (e) { return; }
      if (queue) { queue.push(ch); return; }
      apply(ch);
      redraw();
    });
    es.addEventListener('end', () => setLive('registry stopped', false));
    es.onerror = () => setLive('reconnecting\u2026', false);
    // A page kept in the back/forward cache would hold its stream (and one of the browser's
    // few connections to this host) open: close it on leaving, open a new one on coming back.
    window.addEventListener('pagehide', () => es.close(), { once: true });
  }
  window.addEventListener('pageshow', (ev) => { if (ev.persisted) connect(); });

  function apply(ch) {
    if (!ch || !ch.service) return;
    if (ch.action === 'delete') remove(ch.service); else put(ch.service);
    document.body.dataset.changes = String(Number(document.body.dataset.changes || 0) + 1);
  }

  function addStatsLink() {
    const nav = document.getElementById('nav');
    if (info.stats && !document.getElementById('nav-stats')) {
      nav.append(el('li', {}, el('a', { href: '/stats', id: 'nav-stats' }, 'Stats')));
    }
    for (const a of nav.querySelectorAll('a')) {
      const p = a.getAttribute('href');
      if (p === page) a.setAttribute('aria-current', 'page');
    }
  }

  // ---- shapes and forms ----------------------------------------------------------------

  function shapeTree(value) {
    if (!value || !value.values || !value.values.length) return el('p', { class: 'muted' }, 'no fields');
    const list = (vals) => el('ul', {}, vals.map((v) =>
      el('li', {}, el('code', {}, v.name), ' ', el('span', { class: 'muted' }, v.type),
        v.values && v.values.length ? list(v.values) : null)));
    return el('div', { class: 'shape' }, list(value.values));
  }

  const NUMBER = /^(u?int(8|16|32|64)?|float(32|64)?|double|number)$/i;

  function fieldInputs(values, path, id) {
    return values.map((v) => {
      const p = path.concat(v.name);
      const fid = id + '-' + p.join('-').replace(/[^a-zA-Z0-9_-]/g, '_');
      if (v.values && v.values.length) {
        return el('fieldset', {}, el('legend', {}, v.name + ' (' + v.type + ')'), fieldInputs(v.values, p, id));
      }
      const attrs = { id: fid, name: p.join('.'), 'data-path': JSON.stringify(p), 'data-type': v.type };
      let input;
      if (/^bool(ean)?$/i.test(v.type)) {
        input = el('input', { ...attrs, type: 'checkbox' });
        return el('div', {}, el('label', { for: fid }, input, ' ', v.name, ' ', el('span', { class: 'muted' }, v.type)));
      }
      if (NUMBER.test(v.type)) input = el('input', { ...attrs, type: 'number', step: /int/i.test(v.type) ? '1' : 'any' });
      else input = el('input', { ...attrs, type: 'text', placeholder: /^string$/i.test(v.type) ? '' : 'JSON or text' });
      return el('div', {}, el('label', { for: fid }, v.name, ' ', el('span', { class: 'muted' }, v.type)), input);
    });
  }

  function collect(form) {
    const out = {};
    for (const input of form.querySelectorAll('[data-path]')) {
      const path = JSON.parse(input.dataset.path);
      let value;
      if (input.type === 'checkbox') value = input.checked;
      else if (input.value === '') continue;
      else if (input.type === 'number') value = Number(input.value);
      else if (/^string$/i.test(input.dataset.type)) value = input.value;
      else { try { value = JSON.parse(input.value); } catch (e) { value = input.value; } }
      let o = out;
      for (const k of path.slice(0, -1)) o = o[k] = o[k] || {};
      o[path[path.length - 1]] = value;
    }
    return out;
  }

  function showResult(box, ok, body, status) {
    box.replaceChildren();
    box.className = 'result ' + (ok ? 'ok' : 'error');
    let parsed = null;
    try { parsed = JSON.parse(body); } catch (e) { /* not JSON */ }
    if (ok) {
      box.append(el('h4', {}, 'Reply'),
        el('pre', { class: 'reply' }, parsed !== null ? JSON.stringify(parsed, null, 2) : body));
    } else if (parsed && typeof parsed === 'object' && ('detail' in parsed || 'id' in parsed)) {
      box.append(el('h4', {}, 'Error (HTTP ' + status + ')'),
        el('dl', { class: 'err' },
          el('dt', {}, 'Id'), el('dd', { class: 'err-id' }, parsed.id || ''),
          el('dt', {}, 'Code'), el('dd', { class: 'err-code' }, String(parsed.code ?? status)),
          el('dt', {}, 'Detail'), el('dd', { class: 'err-detail' }, parsed.detail || ''),
          el('dt', {}, 'Status'), el('dd', {}, parsed.status || '')));
    } else {
      box.append(el('h4', {}, 'Error (HTTP ' + status + ')'), el('pre', { class: 'err-detail' }, body));
    }
  }

  let formSeq = 0;
  function callForm(service, ep) {
    const id = 'f' + (++formSeq);
    const fields = el('div', { class: 'fields' },
      ep.request && ep.request.values && ep.request.values.length
        ? fieldInputs(ep.request.values, [], id)
        : el('p', { class: 'muted' }, 'The registry gives no request fields: write the request below.'));
    const raw = el('textarea', { id: id + '-raw', name: 'raw', spellcheck: 'false' }, '{}');
    const box = el('div', { class: 'result', role: 'status', 'aria-live': 'polite' });
    const form = el('form', { class: 'call', 'data-service': service, 'data-endpoint': ep.name },
      fields,
      el('label', { for: id + '-raw' }, 'Request (JSON)'), raw,
      el('button', { type: 'submit' }, 'Call ' + ep.name),
      box);
    fields.addEventListener('input', () => { raw.value = JSON.stringify(collect(form), null, 2); });
    fields.addEventListener('change', () => { raw.value = JSON.stringify(collect(form), null, 2); });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      form.dataset.state = 'calling';
      try { JSON.parse(raw.value || '{}'); } catch (e) {
        showResult(box, false, JSON.stringify({ id: 'dashboard', code: 400, detail: 'the request is not JSON: ' + e.message }), 400);
        form.dataset.state = 'error';
        return;
      }
      try {
        const rsp = await fetch('/_web/call', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ service, endpoint: ep.name, request: raw.value || '{}' }),
        });
        const text = await rsp.text();
        showResult(box, rsp.ok, text, rsp.status);
        form.dataset.state = rsp.ok ? 'done' : 'error';
      } catch (e) {
        showResult(box, false, String(e), 0);
        form.dataset.state = 'error';
      }
    });
    return form;
  }

  function metadataText(md) {
    return Object.entries(md || {}).map(([k, v]) => el('span', { class: 'tag' }, k + '=' + v));
  }

  // ---- pages ---------------------------------------------------------------------------

  function servicesPage() {
    const search = el('input', { type: 'search', id: 'filter', placeholder: 'filter by name' });
    const list = el('ul', { class: 'grid', id: 'services' });
    const apps = el('div', { id: 'apps' });
    main.replaceChildren(el('h1', {}, 'Services'), el('label', { for: 'filter' }, 'Filter'), search, apps,
      el('h2', {}, 'All services'), list);
    redraw = () => {
      const q = search.value.toLowerCase();
      const names = sortedNames().filter((n) => n.toLowerCase().includes(q));
      list.replaceChildren(...names.map((n) => el('li', { 'data-service': n },
        el('a', { href: '/registry?service=' + encodeURIComponent(n) }, n),
        el('div', { class: 'muted' }, versionsOf(n).map((v) => v.version || 'latest').join(', ') +
          ' \u00b7 ' + nodeCount(n) + ' node' + (nodeCount(n) === 1 ? '' : 's')))));
      if (!names.length) list.append(el('li', { class: 'muted' }, 'No services.'));
      apps.replaceChildren();
      if (info.namespace) {
        const prefix = info.namespace + '.';
        const labels = sortedNames().filter((n) => n.startsWith(prefix) && n.length > prefix.length)
          .map((n) => n.slice(prefix.length)).filter((l) => /^[a-zA-Z0-9][a-zA-Z0-9-]*$/.test(l));
        if (labels.length) {
          apps.append(el('h2', {}, 'Web apps'), el('ul', { class: 'grid' },
            labels.map((l) => el('li', {}, el('a', { href: '/' + l + '/' }, l)))));
        }
      }
    };
    search.addEventListener('input', () => redraw());
  }

  function registryPage() {
    const body = el('tbody', { id: 'registry' });
    main.replaceChildren(el('h1', {}, 'Registry'),
      el('p', { class: 'muted' }, 'Every node of every service, updated as services come and go.'),
      el('div', { class: 'scroll' }, el('table', {},
        el('thead', {}, el('tr', {}, ['Service', 'Version', 'Node', 'Address', 'Metadata'].map((h) => el('th', { scope: 'col' }, h)))),
        body)));
    redraw = () => {
      const rows = [];
      for (const n of sortedNames()) {
        for (const v of versionsOf(n)) {
          for (const node of v.nodes || []) {
            rows.push(el('tr', { 'data-service': n, 'data-node': node.id },
              el('td', {}, el('a', { href: '/registry?service=' + encodeURIComponent(n) }, n)),
              el('td', {}, v.version), el('td', {}, node.id), el('td', { class: 'addr' }, node.address),
              el('td', {}, metadataText(node.metadata))));
          }
        }
      }
      if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: '5', class: 'muted' }, 'No services.')));
      body.replaceChildren(...rows);
    };
  }

  function servicePage(name) {
    const status = el('div', { id: 'service-status', role: 'status', 'aria-live': 'polite' });
    const versions = el('div', { id: 'versions' });
    const endpoints = el('div', { id: 'endpoints' });
    main.replaceChildren(el('h1', {}, name), status, versions, el('h2', {}, 'Endpoints'), endpoints);
    let drawn = false;
    redraw = () => {
      const vs = versionsOf(name);
      status.replaceChildren();
      document.body.dataset.present = vs.length ? '1' : '0';
      if (!vs.length) status.append(el('p', { class: 'notice' }, name + ' is not in the registry (no node serves it now).'));
      versions.replaceChildren(...vs.map((v) => el('section', { class: 'card' },
        el('h2', {}, 'Version ' + (v.version || 'latest')),
        Object.keys(v.metadata || {}).length ? el('p', {}, metadataText(v.metadata)) : null,
        el('div', { class: 'scroll' }, el('table', {},
          el('thead', {}, el('tr', {}, ['Node', 'Address', 'Metadata'].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, (v.nodes || []).map((node) => el('tr', { 'data-node': node.id },
            el('td', {}, node.id), el('td', { class: 'addr' }, node.address), el('td', {}, metadataText(node.metadata))))))))));
      // Forms are drawn once, so a registry change does not wipe what is being typed.
      const eps = endpointsOf(name);
      if (!drawn && eps.length) {
        drawn = true;
        endpoints.replaceChildren(...eps.map((ep) => el('section', { class: 'card endpoint', id: 'ep-' + ep.name, 'data-endpoint': ep.name },
          el('h3', {}, ep.name),
          Object.keys(ep.metadata || {}).length ? el('p', {}, metadataText(ep.metadata)) : null,
          el('div', { class: 'cols' },
            el('div', {}, el('h4', {}, 'Request'), shapeTree(ep.request)),
            el('div', {}, el('h4', {}, 'Response'), shapeTree(ep.response))),
          ep.metadata && ep.metadata.stream === 'true'
            ? el('p', { class: 'muted' }, 'A stream: open it with micro stream ' + name + ' ' + ep.name + '.')
            : callForm(name, ep))));
      } else if (!drawn) {
        endpoints.replaceChildren(el('p', { class: 'muted' }, 'No endpoints registered.'));
      }
    };
  }

  function clientPage() {
    const svcSel = el('select', { id: 'svc' });
    const epSel = el('select', { id: 'ep' });
    const other = el('input', { type: 'text', id: 'ep-other', placeholder: 'Handler.Method' });
    const holder = el('div', { id: 'call-form' });
    main.replaceChildren(el('h1', {}, 'Call'), el('div', { class: 'card' },
      el('label', { for: 'svc' }, 'Service'), svcSel,
      el('label', { for: 'ep' }, 'Endpoint'), epSel,
      el('label', { for: 'ep-other' }, 'Other endpoint (when not listed)'), other), holder);
    function drawForm() {
      const service = svcSel.value;
      const name = other.value.trim() || epSel.value;
      holder.replaceChildren();
      if (!service || !name) return;
      const ep = endpointsOf(service).find((e) => e.name === name) || { name };
      holder.append(el('section', { class: 'card' }, el('h2', {}, service + ' \u00b7 ' + name), callForm(service, ep)));
    }
    function fillEndpoints() {
      const keep = epSel.value;
      epSel.replaceChildren(el('option', { value: '' }, '\u2014'),
        ...endpointsOf(svcSel.value).map((e) => el('option', { value: e.name, selected: e.name === keep }, e.name)));
    }
    svcSel.addEventListener('change', () => { fillEndpoints(); drawForm(); });
    epSel.addEventListener('change', drawForm);
    other.addEventListener('change', drawForm);
    redraw = () => {
      const keep = svcSel.value || params.get('service') || '';
      svcSel.replaceChildren(el('option', { value: '' }, '\u2014'),
        ...sortedNames().map((n) => el('option', { value: n, selected: n === keep }, n)));
      fillEndpoints();
    };
  }

  // An example request from a request shape: empty strings, zeros, false, nested objects.
  function sample(value) {
    const out = {};
    for (const v of (value && value.values) || []) {
      if (v.values && v.values.length) out[v.name] = sample(v);
      else if (/^bool(ean)?$/i.test(v.type)) out[v.name] = false;
      else if (NUMBER.test(v.type)) out[v.name] = 0;
      else if (/^string$/i.test(v.type)) out[v.name] = '';
    }
    return out;
  }

  function apiPage() {
    const intro = el('p', {});
    const body = el('div', { id: 'api' });
    main.replaceChildren(el('h1', {}, 'API'), intro, body);
    redraw = () => {
      const origin = location.origin;
      const viaRpc = info.namespace !== null;
      intro.textContent = viaRpc
        ? 'Call any endpoint with POST /rpc and {"service", "endpoint", "request"}.'
        : 'Call any endpoint with POST /api/{service}/{Handler.Method} (or /{service}/{Handler.Method}) and a JSON body.';
      body.replaceChildren(...sortedNames().filter((n) => endpointsOf(n).length).map((n) =>
        el('section', { class: 'card', id: 'api-' + n, 'data-service': n }, el('h2', {}, n),
          endpointsOf(n).map((ep) => {
            const req = JSON.stringify(sample(ep.request));
            const example = viaRpc
              ? "curl " + origin + "/rpc -H 'Content-Type: application/json' -d '" +
                JSON.stringify({ service: n, endpoint: ep.name, request: sample(ep.request) }) + "'"
              : "curl " + origin + '/api/' + n + '/' + ep.name + " -H 'Content-Type: application/json' -d '" + req + "'";
            return el('div', { class: 'endpoint', 'data-endpoint': ep.name }, el('h3', {}, ep.name),
              ep.metadata && ep.metadata.description ? el('p', {}, ep.metadata.description) : null,
              ep.metadata && ep.metadata.stream === 'true' ? el('p', { class: 'muted' }, 'A stream (micro stream).') : null,
              el('div', { class: 'cols' },
                el('div', {}, el('h4', {}, 'Request'), shapeTree(ep.request)),
                el('div', {}, el('h4', {}, 'Response'), shapeTree(ep.response))),
              el('pre', {}, example));
          }))));
      if (!body.children.length) body.append(el('p', { class: 'muted' }, 'No service registers endpoints.'));
    };
  }

  function terminalPage() {
    const out = el('pre', { id: 'term-out', 'aria-live': 'polite', tabindex: '0' }, 'Type help for the commands.\n');
    const input = el('input', { type: 'text', id: 'term-in', autocomplete: 'off', spellcheck: 'false' });
    const history = [];
    let at = 0;
    const form = el('form', { class: 'term-form' }, el('label', { for: 'term-in' }, 'micro>'), input,
      el('button', { type: 'submit' }, 'Run'));
    main.replaceChildren(el('h1', {}, 'Terminal'), out, form);
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowUp' && at > 0) { input.value = history[--at]; ev.preventDefault(); }
      if (ev.key === 'ArrowDown' && at < history.length) { at++; input.value = history[at] || ''; ev.preventDefault(); }
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const command = input.value;
      input.value = '';
      if (command.trim()) { history.push(command); at = history.length; }
      out.append('micro> ' + command + '\n');
      form.dataset.state = 'running';
      try {
        const rsp = await fetch('/_web/cli', { method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ command }) });
        const body = await rsp.json();
        out.append(el('span', { class: body.ok === false || !rsp.ok ? 'bad' : 'good' },
          (body.output !== undefined ? body.output : body.detail || '') + '\n'));
      } catch (e) {
        out.append(String(e) + '\n');
      }
      out.scrollTop = out.scrollHeight;
      form.dataset.state = 'done';
    });
    redraw = () => {};
    input.focus();
  }

  if (page === '/') servicesPage();
  else if (page === '/registry' && params.get('service')) servicePage(params.get('service'));
  else if (page === '/registry') registryPage();
  else if (page === '/client') clientPage();
  else if (page === '/api') apiPage();
  else if (page === '/terminal') terminalPage();
  else main.replaceChildren(el('h1', {}, 'Not found'));
  connect();
})();
