// Browser side of scripts/bench/ls_pages.sh: one timed part in headless Chromium (Debian's
// /usr/bin/chromium), told what to do by ls_pages.py with one JSON argument:
//   {"ls": origin, "user", "password", "page": "grid"|"label", "annotators": N, "project",
//    "view": the Data Manager view (tab) to open, "tasks": images in the grid,
//    "task_ids": [first, then the tasks opened in a row], "warm": bool, "timeout_s"}
// It talks over stdin/stdout, one JSON line per event: `ready` once every annotator's browser
// context is signed in (and, on the labeling page, shows the first task), then it waits for a
// `go` line (ls_pages.py reads its counters in between), runs the timed part on all contexts at
// once and says `done` with the times; with "warm", told `go` again (once the counters are read),
// it loads the grid again in every context, whose caches now hold every image, and says `warm`.
//
// Each annotator is its own browser context: its own Label Studio session (signed in through the
// login form's POST, so no page is loaded and the cache stays empty) and its own cache. Times are
// taken inside the page (performance.now()), so the polling from here adds nothing to them; unlike
// scripts/bench/page.mjs, playwright's DevTools connection is attached throughout (it signs in,
// navigates and clicks):
// - grid: from navigation start until every thumbnail of the Data Manager's grid has loaded, has
//   naturalWidth > 0 and decode() has resolved, and a frame has been drawn after that;
// - label: from the click on the next task's row in the Data Manager's list (the labeling view
//   is open beside it) until the editor shows that task (Htx.task.id) with a new image that has
//   loaded and decoded, and a frame has been drawn after that.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(new URL('../../tests/e2e/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const spec = JSON.parse(process.argv[2]);
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const stdin = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const median = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return Math.round(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2);
};

// CPU seconds of every process below this one (Chromium and all its helpers), from /proc.
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
function descendantsCpuS() {
  const procs = [];
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
      procs.push({ pid: Number(d), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {} // ended meanwhile
  }
  const mine = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) if (!mine.has(p.pid) && mine.has(p.ppid)) { mine.add(p.pid); grew = true; }
  }
  return procs.filter((p) => p.pid !== process.pid && mine.has(p.pid)).reduce((s, p) => s + p.ticks, 0) / TICK;
}

// Injected into every page before its scripts run.
function watchers(expected) {
  // Grid: all `expected` thumbnails loaded and decoded. __benchSeen is the progress so far.
  window.__benchGrid = () => {
    const tick = () => {
      const ok = [...document.querySelectorAll('.lsf-grid-view img')].filter((i) => i.complete && i.naturalWidth > 0);
      window.__benchSeen = ok.length;
      if (ok.length < expected) { setTimeout(tick, 20); return; }
      Promise.all(ok.map((i) => i.decode().catch(() => {})))
        .then(() => requestAnimationFrame(() => { window.__benchResult = { ms: performance.now(), painted: ok.length }; }));
    };
    tick();
  };
  // Labeling: task `id` shown with an image other than `prev`, loaded and decoded; ms since t0.
  window.__benchDone = {};
  const mainImage = () => document.querySelector('.lsf-main-view .lsf-object img');
  const watch = (id, t0, prev) => {
    const tick = () => {
      const img = mainImage();
      if (window.Htx?.task?.id === id && img && img.src !== prev && img.complete && img.naturalWidth > 0) {
        img.decode().catch(() => {})
          .then(() => requestAnimationFrame(() => { window.__benchDone[id] = performance.now() - t0; }));
        return;
      }
      setTimeout(tick, 10);
    };
    tick();
  };
  // Clicks the ID cell of task `id`'s row in the Data Manager's list; false if it is not there.
  window.__benchOpen = (id) => {
    for (const row of document.querySelectorAll('.lsf-table-row')) {
      const cell = [...row.querySelectorAll('.lsf-table__cell')].find((c) => c.textContent.trim() !== '');
      if (cell?.textContent.trim() === String(id)) {
        const prev = mainImage()?.src ?? null;
        const t0 = performance.now();
        cell.click();
        watch(id, t0, prev);
        return true;
      }
    }
    return false;
  };
  const first = new URLSearchParams(location.search).get('task');
  if (first) watch(Number(first), 0, null);
  else if (location.pathname.endsWith('/data')) window.__benchGrid();
}

const deadline = () => Date.now() + spec.timeout_s * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The grid in `page`, from navigation: { ms, painted } (ms null when not all painted in time).
async function grid(page) {
  const url = `${spec.ls}/projects/${spec.project}/data?tab=${spec.view}`;
  await page.goto(url, { waitUntil: 'commit', timeout: spec.timeout_s * 1000 });
  const end = deadline();
  for (;;) {
    const r = await page.evaluate(() => window.__benchResult ?? { ms: null, painted: window.__benchSeen ?? 0 });
    if (r.ms != null || Date.now() > end) return { ms: r.ms == null ? null : Math.round(r.ms), painted: r.painted };
    await sleep(250);
  }
}

// Waits for task `id` to be painted in `page`; its time in ms, or null after the timeout.
async function painted(page, id) {
  const end = deadline();
  for (;;) {
    const ms = await page.evaluate((i) => window.__benchDone[i] ?? null, id);
    if (ms != null) return Math.round(ms);
    if (Date.now() > end) return null;
    await sleep(50);
  }
}

// Tasks task_ids[1..] opened one after the other in `page`: their times.
async function labelRun(page) {
  const times = [];
  for (const id of spec.task_ids.slice(1)) {
    if (!(await page.evaluate((i) => window.__benchOpen(i), id))) throw new Error(`task ${id} is not in the list`);
    times.push(await painted(page, id));
  }
  return times;
}

const gridRows = Math.ceil(spec.tasks / 10);
// Tall enough to show every grid row (no scrolling, so no lazy loading is left out) and every
// task opened from the list.
const viewport = { width: 1600, height: Math.max(900, 300 + gridRows * 200, 300 + spec.task_ids.length * 80) };
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const pages = [];
  for (let i = 0; i < spec.annotators; i++) {
    const ctx = await browser.newContext({ viewport });
    const login = `${spec.ls}/user/login/`;
    await ctx.request.get(login);
    const csrf = (await ctx.cookies()).find((c) => c.name === 'csrftoken')?.value;
    const r = await ctx.request.post(login, { form: { csrfmiddlewaretoken: csrf, email: spec.user, password: spec.password },
      headers: { Referer: login }, maxRedirects: 0 });
    if (r.status() !== 302 || !(await ctx.cookies()).some((c) => c.name === 'sessionid')) {
      throw new Error(`login: ${r.status()} ${(await r.text()).slice(0, 200)}`);
    }
    await ctx.addInitScript(watchers, spec.tasks);
    pages.push(await ctx.newPage());
  }
  if (spec.page === 'label') {
    // The labeling view open on the first task, beside the list: not timed.
    await Promise.all(pages.map(async (p) => {
      await p.goto(`${spec.ls}/projects/${spec.project}/data?tab=${spec.view}&task=${spec.task_ids[0]}`, { waitUntil: 'commit' });
      if ((await painted(p, spec.task_ids[0])) == null) throw new Error(`task ${spec.task_ids[0]} never painted`);
    }));
  }
  say({ event: 'ready' });
  if ((await stdin.next()).value !== 'go') throw new Error('expected `go`');
  const cpu0 = descendantsCpuS();
  let ms;
  let paintedCount;
  let expected;
  if (spec.page === 'grid') {
    const rs = await Promise.all(pages.map(grid));
    ms = rs.map((r) => r.ms);
    paintedCount = rs.reduce((s, r) => s + r.painted, 0);
    expected = spec.tasks * spec.annotators;
  } else {
    ms = (await Promise.all(pages.map(labelRun))).flat();
    paintedCount = ms.filter((x) => x != null).length;
    expected = (spec.task_ids.length - 1) * spec.annotators;
  }
  say({ event: 'done', ms, median_ms: median(ms), images_painted: paintedCount, images_expected: expected,
    browser_cpu_s: descendantsCpuS() - cpu0 });
  if (spec.warm) {
    if ((await stdin.next()).value !== 'go') throw new Error('expected `go`');
    const rs = await Promise.all(pages.map(grid));
    say({ event: 'warm', median_ms: median(rs.map((r) => r.ms)), images_painted: rs.reduce((s, r) => s + r.painted, 0) });
  }
} catch (e) {
  say({ event: 'error', error: String(e?.stack ?? e).slice(0, 2000) });
  process.exitCode = 1;
} finally {
  await browser.close();
}
