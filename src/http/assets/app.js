// ha-sync dashboard. Plain JS, no dependencies. Every text that comes from
// the API (file names, error messages, pair names) is untrusted and is only
// ever set with textContent or as an SVG <title> text: never parsed as HTML.
'use strict';

(() => {
  // Refresh interval in seconds: 10, or "#refresh=N" in the URL (1..3600).
  const REFRESH_S = (() => {
    const m = /(?:^#|&)refresh=(\d+)/.exec(location.hash);
    const v = m ? Number(m[1]) : 10;
    return v >= 1 && v <= 3600 ? v : 10;
  })();
  const OPS_PAGE = 100;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  let clockOffsetMs = 0; // server clock minus browser clock
  let refreshes = 0;
  const run = { id: null, afterId: 0, failedOnly: false, shown: 0, busy: false };

  // ---- DOM helpers -------------------------------------------------------

  // One word for a POSIX shell, as the CLI prints it (ha_sync/text.h, ShellQuote).
  function shellQuote(word) {
    return /^[A-Za-z0-9_.\/:=@%+,-]+$/.test(word) ? word : "'" + word.replace(/'/g, "'\\''") + "'";
  }

  function el(tag, opts, ...children) {
    const e = document.createElement(tag);
    const o = opts || {};
    if (o.cls) e.className = o.cls;
    if (o.text !== undefined && o.text !== null) e.textContent = String(o.text);
    if (o.title) e.title = String(o.title);
    if (o.data) for (const [k, v] of Object.entries(o.data)) e.dataset[k] = String(v);
    for (const c of children) if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  function byId(id) { return document.getElementById(id); }

  // ---- formatting --------------------------------------------------------

  function fmtBytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
    let v = Number(n);
    let u = 0;
    while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
    return (u === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[u];
  }

  function fmtDuration(s) {
    if (s === null || s === undefined) return '–';
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
  }

  function secondsSince(iso) {
    return Math.max(0, Math.round((Date.now() + clockOffsetMs - Date.parse(iso)) / 1000));
  }

  function ago(iso) {
    if (!iso) return '–';
    const s = secondsSince(iso);
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 2 * 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' days ago';
  }

  // Today: "14:03:10"; other days: "Nov 24, 14:03".
  function localTime(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    const now = new Date(Date.now() + clockOffsetMs);
    if (d.toDateString() === now.toDateString()) {
      return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    }
    return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  const STATUS_TEXT = {
    success: 'ok', partial_failure: 'partly failed', failed: 'failed', running: 'running',
  };
  function statusText(s) { return STATUS_TEXT[s] || String(s); }
  function isBad(s) { return s === 'failed' || s === 'partial_failure'; }

  // ---- API ---------------------------------------------------------------

  async function api(path) {
    let res;
    try {
      res = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' });
    } catch (e) {
      const err = new Error('cannot reach the dashboard server');
      err.status = 0;
      throw err;
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const err = new Error((body && typeof body.error === 'string') ? body.error : 'HTTP ' + res.status);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  function showBanner(text) {
    const b = byId('banner');
    b.textContent = text;
    b.hidden = false;
    document.body.classList.add('degraded');
  }

  function hideBanner() {
    byId('banner').hidden = true;
    document.body.classList.remove('degraded');
  }

  // ---- pair cards --------------------------------------------------------

  function countsLine(it) {
    const box = el('div', { cls: 'counts' });
    const items = [['files_created', 'created'], ['files_updated', 'updated'],
      ['files_deleted', 'deleted'], ['files_failed', 'failed']];
    for (const [key, label] of items) {
      const n = Number(it[key] || 0);
      const bad = key === 'files_failed' && n > 0;
      box.appendChild(el('span', { cls: 'count' + (bad ? ' count-bad' : '') + (n === 0 ? ' zero' : ''), data: { count: label } },
        el('b', { text: n }), ' ' + label));
    }
    return box;
  }

  function runBlock(label, it, kind) {
    const b = el('div', { cls: 'run-block', data: { kind } });
    const head = el('div', { cls: 'run-head' }, el('span', { cls: 'label', text: label }));
    b.appendChild(head);
    if (!it) {
      head.appendChild(el('span', { cls: 'muted', text: 'never' }));
      return b;
    }
    const when = it.status === 'running' ? 'since ' + ago(it.started_at).replace(' ago', '') : ago(it.ended_at || it.started_at);
    const link = el('button', { cls: 'link run-link status-' + it.status, title: 'show the operations of run ' + it.id },
      el('span', { cls: 'badge badge-' + it.status, text: statusText(it.status) }), ' ' + when);
    link.type = 'button';
    link.addEventListener('click', () => openRun(it.id));
    head.appendChild(link);
    if (it.status !== 'running') b.appendChild(countsLine(it));
    const meta = [];
    if (kind === 'real') meta.push(fmtBytes(it.bytes_transferred));
    if (it.duration_seconds !== null && it.duration_seconds !== undefined) meta.push(fmtDuration(it.duration_seconds));
    if (meta.length) b.appendChild(el('div', { cls: 'meta muted', text: meta.join(' · ') }));
    if (it.conflict_copies > 0) {
      b.appendChild(el('div', { cls: 'conflicts', data: { conflicts: it.conflict_copies } },
        it.conflict_copies + (it.conflict_copies === 1 ? ' conflict copy' : ' conflict copies') + ' kept (".ha-sync-conflict-")'));
    }
    if (it.error_message) b.appendChild(el('div', { cls: 'error-text', text: it.error_message }));
    return b;
  }

  // The pending plan (a stored dry-run that `ha-sync apply --plan ID` executes).
  function planBlock(p) {
    const b = el('div', { cls: 'plan-block', data: { plan: p.id, applied: p.applied ? 'yes' : 'no' } });
    const state = p.applied ? 'applied by run ' + p.applied_by.id
      : (p.applied_by ? 'apply ' + statusText(p.applied_by.status) + ' (run ' + p.applied_by.id + ')' : 'not applied');
    const link = el('button', { cls: 'link plan-link', title: 'show the planned operations of plan ' + p.id },
      'Plan ' + p.id + ' · ' + ago(p.started_at));
    link.type = 'button';
    link.addEventListener('click', () => openRun(p.id));
    b.appendChild(el('div', { cls: 'run-head' }, el('span', { cls: 'label', text: 'Pending plan' }), link,
      el('span', { cls: p.applied ? 'muted' : 'plan-state', text: ' · ' + state })));
    const ops = el('div', { cls: 'counts' });
    for (const key of ['create', 'update', 'delete', 'conflict']) {
      const n = Number(p.operations[key] || 0);
      ops.appendChild(el('span', { cls: 'count' + (n === 0 ? ' zero' : ''), data: { planned: key } },
        el('b', { text: n }), ' ' + key));
    }
    b.appendChild(ops);
    if (p.biggest_deletes.length) {
      const list = el('ul', { cls: 'plan-deletes' });
      for (const d of p.biggest_deletes) {
        list.appendChild(el('li', { text: 'delete ' + d.display_path + (d.size_before === null ? '' : ' (' + fmtBytes(d.size_before) + ')') }));
      }
      b.appendChild(list);
    }
    if (!p.applied) b.appendChild(el('div', { cls: 'meta muted', text: 'to apply: ha-sync apply --plan ' + p.id + ' …' }));
    return b;
  }

  function renderDirection(d) {
    const box = el('div', { cls: 'dir' + (d.attention.length ? ' dir-bad' : ''), data: { direction: d.direction } });
    box.appendChild(el('h3', { text: d.direction }));
    if (d.running) box.appendChild(runBlock('Running', d.running, 'running'));
    box.appendChild(runBlock('Last sync', d.last_real, 'real'));
    box.appendChild(runBlock('Last dry-run', d.last_dry_run, 'dry-run'));
    if (d.plan) box.appendChild(planBlock(d.plan));
    return box;
  }

  const charts = new Map(); // pair -> chart container of the current cards

  function renderPairs(data) {
    const cards = [];
    charts.clear();
    for (const p of data.pairs) {
      const bad = p.attention.length > 0;
      const card = el('article', { cls: 'card' + (bad ? ' card-bad' : ''), data: { pair: p.pair } });
      card.appendChild(el('div', { cls: 'card-head' },
        el('h2', { text: p.pair }),
        el('span', { cls: 'pill ' + (bad ? 'pill-bad' : 'pill-ok'), text: bad ? 'attention' : 'healthy' })));
      if (bad) {
        const ul = el('ul', { cls: 'attention' });
        for (const a of p.attention) ul.appendChild(el('li', { text: a }));
        card.appendChild(ul);
      }
      const dirs = el('div', { cls: 'dirs' });
      for (const d of p.directions) dirs.appendChild(renderDirection(d));
      card.appendChild(dirs);
      const chart = el('div', { cls: 'chart' });
      card.appendChild(chart);
      charts.set(p.pair, { box: chart, directions: p.directions.map((d) => d.direction) });
      cards.push(card);
    }
    if (cards.length === 0) {
      cards.push(el('p', { cls: 'empty muted', text: 'No runs recorded yet. Run ha-sync once and this page fills in.' }));
    }
    byId('pairs').replaceChildren(...cards);
  }

  // ---- charts (inline SVG, drawn here) -------------------------------------

  function drawChart(entry, iterations) {
    const runs = iterations.filter((r) => r.status !== 'running').reverse(); // oldest first
    const box = entry.box;
    if (runs.length === 0) {
      box.replaceChildren(el('div', { cls: 'muted chart-empty', text: 'no real runs yet' }));
      return;
    }
    const W = 320;
    const H = 64;
    const top = 4;
    const bottom = H - 2;
    const maxBytes = Math.max(1, ...runs.map((r) => Number(r.bytes_transferred) || 0));
    const maxDur = Math.max(0.001, ...runs.map((r) => Number(r.duration_seconds) || 0));
    const slot = W / Math.max(runs.length, 10);
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'spark', role: 'img', preserveAspectRatio: 'none' });
    const label = svg('title');
    label.textContent = 'Recent real runs: bars are bytes copied, the line is the duration';
    s.appendChild(label);
    s.appendChild(svg('line', { x1: 0, y1: bottom, x2: W, y2: bottom, class: 'axis' }));
    const points = [];
    runs.forEach((r, i) => {
      const bytes = Number(r.bytes_transferred) || 0;
      const h = Math.max(1.5, (bottom - top) * bytes / maxBytes);
      const x = i * slot;
      const di = Math.max(0, entry.directions.indexOf(r.direction)) % 3;
      const rect = svg('rect', {
        x: (x + 1).toFixed(1), y: (bottom - h).toFixed(1), width: Math.max(1, slot - 2).toFixed(1), height: h.toFixed(1),
        class: 'bar d' + di + (isBad(r.status) ? ' bar-bad' : ''),
      });
      const t = svg('title');
      t.textContent = `${r.direction} · ${localTime(r.started_at)} · ${statusText(r.status)} · ${fmtBytes(bytes)} · ${fmtDuration(r.duration_seconds)}`;
      rect.appendChild(t);
      rect.addEventListener('click', () => openRun(r.id));
      s.appendChild(rect);
      const dur = Number(r.duration_seconds) || 0;
      points.push(`${(x + slot / 2).toFixed(1)},${(bottom - (bottom - top) * dur / maxDur).toFixed(1)}`);
    });
    if (points.length > 1) s.appendChild(svg('polyline', { points: points.join(' '), class: 'dur' }));
    points.forEach((p) => {
      const [cx, cy] = p.split(',');
      s.appendChild(svg('circle', { cx, cy, r: 1.8, class: 'dur-dot' }));
    });
    const legend = el('div', { cls: 'legend muted' });
    entry.directions.forEach((d, i) => legend.appendChild(el('span', { cls: 'key d' + (i % 3) }, d)));
    legend.appendChild(el('span', { cls: 'key key-dur' }, 'duration (max ' + fmtDuration(maxDur) + ')'));
    legend.appendChild(el('span', { cls: 'key-plain' }, 'bytes max ' + fmtBytes(maxBytes)));
    box.replaceChildren(s, legend);
  }

  async function loadCharts() {
    const entries = [...charts.entries()];
    await Promise.all(entries.map(async ([pair, entry]) => {
      try {
        const data = await api('/api/iterations?dry_run=0&limit=20&pair=' + encodeURIComponent(pair));
        if (charts.get(pair) === entry) drawChart(entry, data.iterations);
      } catch (e) {
        entry.box.replaceChildren(el('div', { cls: 'muted chart-empty', text: 'chart unavailable: ' + e.message }));
      }
    }));
  }

  // ---- recent activity ---------------------------------------------------

  // A sharded run (one entry, its shards inside): "3/3 shards".
  function shardsText(it) { return `${it.shards.length}/${it.shard_count} shards`; }

  function renderActivity(iterations) {
    const rows = iterations.map((it) => {
      const tr = el('tr', { cls: 'clickable' + (isBad(it.status) ? ' row-bad' : ''), data: { iterationId: it.id } },
        el('td', { text: localTime(it.started_at), title: it.started_at }),
        el('td', { text: it.pair }),
        el('td', { text: it.direction }),
        el('td', {}, el('span', { cls: 'badge badge-' + it.status, text: statusText(it.status) }),
          it.dry_run ? el('span', { cls: 'mode', text: 'dry-run' }) : null,
          it.shards ? el('span', { cls: 'mode', text: shardsText(it) }) : null),
        el('td', { cls: 'num', text: it.files_created }),
        el('td', { cls: 'num hide-narrow', text: it.files_updated }),
        el('td', { cls: 'num hide-narrow', text: it.files_deleted }),
        el('td', { cls: 'num' + (it.files_failed > 0 ? ' count-bad' : ''), text: it.files_failed }),
        el('td', { cls: 'num hide-narrow', text: fmtBytes(it.bytes_transferred) }),
        el('td', { cls: 'num hide-narrow', text: fmtDuration(it.duration_seconds) }));
      tr.tabIndex = 0;
      tr.addEventListener('click', () => openRun(it.id));
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') openRun(it.id); });
      return tr;
    });
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { cls: 'muted', text: 'nothing yet' })));
    byId('activity-body').replaceChildren(...rows);
  }

  // ---- one run's operations ----------------------------------------------

  function fact(dl, name, value, cls) {
    dl.appendChild(el('dt', { text: name }));
    dl.appendChild(el('dd', { cls: cls || '', text: value }));
  }

  function renderRunFacts(it) {
    byId('run-title').textContent = `Run ${it.id}: ${it.pair} ${it.direction}${it.dry_run ? ' (dry-run)' : ''}`;
    const dl = byId('run-facts');
    dl.replaceChildren();
    fact(dl, 'status', statusText(it.status), 'status-' + it.status);
    fact(dl, 'run id', it.run_id || '–', 'mono');
    if (it.run_group) fact(dl, 'run group', it.run_group + (it.shard_index !== null && it.shard_index !== undefined ? ` (shard ${it.shard_index} of ${it.shard_count})` : ''), 'mono');
    fact(dl, 'started', localTime(it.started_at) + ' (' + ago(it.started_at) + ')');
    fact(dl, 'duration', fmtDuration(it.duration_seconds));
    fact(dl, 'from', it.src, 'mono');
    fact(dl, 'to', it.dest, 'mono');
    fact(dl, 'files', `${it.files_created} created, ${it.files_updated} updated, ${it.files_deleted} deleted, ${it.files_skipped} skipped, ${it.files_failed} failed`);
    fact(dl, 'copied', fmtBytes(it.bytes_transferred));
    const undo = byId('run-undo');
    const changed = it.files_created + it.files_updated + it.files_deleted > 0;
    if (it.run_id && !it.dry_run && changed && it.direction !== 'undo') {
      undo.replaceChildren('To revert this run on the destination (add the run\'s --log-dir when it was not /var/log/ha-sync): ',
        el('code', { text: `ha-sync undo --dest ${shellQuote(it.dest)} --pair ${it.pair} --run-id ${it.run_id}` }));
      undo.hidden = false;
    } else {
      undo.hidden = true;
    }
    const err = byId('run-error');
    err.textContent = it.error_message || '';
    err.hidden = !it.error_message;
  }

  function opRow(op) {
    const fail = op.status === 'fail';
    const path = el('td', { cls: 'path' + (op.is_conflict_copy ? ' conflict' : ''), title: op.path_encoding === 'base64' ? 'stored as ' + op.filepath : '' },
      el('span', { text: op.display_path }));
    if (op.is_conflict_copy) path.appendChild(el('span', { cls: 'tag', text: 'conflict copy' }));
    const size = op.operation === 'delete' ? fmtBytes(op.size_before)
      : (op.size_before !== null ? fmtBytes(op.size_before) + ' → ' : '') + fmtBytes(op.size_after);
    return el('tr', { cls: fail ? 'op-fail' : '', data: { opId: op.id, status: op.status } },
      el('td', { cls: 'num muted', text: op.id }),
      el('td', { text: op.operation }),
      path,
      el('td', { cls: 'num', text: size }),
      el('td', { cls: fail ? 'status-failed' : '', text: fail ? 'failed' : 'ok' }),
      el('td', { cls: 'error-text', text: op.error_message || '' }));
  }

  async function loadOps(first) {
    if (run.busy || run.id === null) return;
    run.busy = true;
    const id = run.id;
    try {
      let q = `/api/operations?iteration_id=${encodeURIComponent(id)}&limit=${OPS_PAGE}&after_id=${run.afterId}`;
      if (run.failedOnly) q += '&status=fail';
      const data = await api(q);
      if (run.id !== id) return;
      if (first) {
        renderRunFacts(data.iteration);
        byId('ops-body').replaceChildren();
        run.shown = 0;
      }
      const body = byId('ops-body');
      for (const op of data.operations) body.appendChild(opRow(op));
      run.shown += data.operations.length;
      run.afterId = data.next_after_id || 0;
      byId('ops-more').hidden = !data.next_after_id;
      byId('ops-count').textContent = run.shown === 0
        ? (run.failedOnly ? 'no failed operations' : 'no operations recorded')
        : `${run.shown} operation${run.shown === 1 ? '' : 's'}${run.failedOnly ? ' (failed only)' : ''}${data.next_after_id ? ', more below' : ''}`;
    } catch (e) {
      byId('ops-count').textContent = 'cannot load operations: ' + e.message;
    } finally {
      run.busy = false;
    }
  }

  function openRun(id) {
    run.id = id;
    run.afterId = 0;
    const panel = byId('run');
    panel.hidden = false;
    byId('ops-body').replaceChildren();
    byId('ops-count').textContent = 'loading…';
    loadOps(true).then(() => panel.scrollIntoView({ behavior: 'smooth', block: 'start' }));
  }

  // ---- refresh loop --------------------------------------------------------

  async function refresh() {
    try {
      const [pairs, recent] = await Promise.all([api('/api/pairs'), api('/api/iterations?limit=25')]);
      clockOffsetMs = Date.parse(pairs.now) - Date.now();
      renderPairs(pairs);
      renderActivity(recent.iterations);
      hideBanner();
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
      byId('refreshed').textContent = 'updated ' + new Date().toLocaleTimeString() + ' · every ' + REFRESH_S + ' s';
      await loadCharts();
    } catch (e) {
      showBanner(e.status === 503 ? 'The audit database is unavailable (' + e.message + '). Showing the last data; retrying every ' + REFRESH_S + ' s.'
        : 'Cannot load data: ' + e.message + '. Retrying every ' + REFRESH_S + ' s.');
    } finally {
      setTimeout(refresh, REFRESH_S * 1000);
    }
  }

  function start() {
    byId('run-close').addEventListener('click', () => { run.id = null; byId('run').hidden = true; });
    byId('ops-more').addEventListener('click', () => loadOps(false));
    byId('failed-only').addEventListener('change', (ev) => {
      run.failedOnly = ev.target.checked;
      if (run.id !== null) { run.afterId = 0; loadOps(true); }
    });
    refresh();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
