// Browser side of scripts/bench/page.sh: loads a page of N <img> links in headless Chromium
// (Debian's /usr/bin/chromium) for each mode of the spec (presign, proxy, floor, direct), and
// reports per run: time until every image has decoded, the CPU time of the mode's server (sum
// over its threads of /proc/<pid>/task/*/schedstat, ns) and of the browser, and the bytes the
// server sent per image: as Chromium counts them (response headers + bodies; untimed run), and
// as TCP carried them on the browser's connections to the server (`ss -ti`: bytes_acked, so
// TLS and HTTP/2 framing included; timed runs, read from the connections still open once the
// page has reported, before the browser closes them). Over plain HTTP/1.1 ls-presign and the
// actix floor close a keep-alive connection after 5 s idle (actix-web's default), so on pages
// that take about that long (3.1 MB images over plain HTTP) connections that went idle early
// (a 303's, say) can be gone by then, and sent_bytes_per_image undercount.
//
// The timed runs start a fresh Chromium (new profile: empty HTTP cache, new connections, as a
// new annotator session) with no DevTools attached: the page times itself and posts the result
// back, so no instrumentation runs in the browser while it loads. Bytes and statuses come from
// one untimed warm-up run per mode, driven through playwright-core, which also fills the
// presign cache and the proxy's connection pool.
//
//   node scripts/bench/page.mjs --spec spec.json --runs 5
// spec.json: {"chromium_args": [...], "front_pids": [...], "modes": {"presign": {"pid": N, "origin": URL, "urls": [...]}, ...}}:
// for each mode, the image URLs of its page, and the server whose CPU time and bytes it costs;
// chromium_args are added to every launch (page.sh's TLS=1 passes the certificate to accept);
// front_pids, when given, are a TLS proxy's processes in front of every server (page.sh's
// FRONT=nginx), whose CPU time is reported next to the server's.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { constants, tmpdir } from 'node:os';
import { parseArgs } from 'node:util';

const require = createRequire(new URL('../../tests/e2e/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const { values: a } = parseArgs({ options: { spec: { type: 'string' }, runs: { type: 'string', default: '5' } } });
const spec = JSON.parse(readFileSync(a.spec, 'utf8'));

// A process's CPU time in ns: schedstat's on-CPU time summed over its threads (nanosecond
// resolution; /proc/<pid>/stat counts 10 ms ticks). 0 for a process that has just ended.
function cpuNs(pid) {
  let total = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try { total += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch {}
    }
  } catch {}
  return total;
}
// The fields of /proc/<pid>/stat after the command name: [0] is field 3 (state).
const statFields = (pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
const statTicks = (pid) => { const f = statFields(pid); return Number(f[11]) + Number(f[12]); }; // utime + stime
// CPU time of every process in a process group (the browser and all its children), ns.
function groupCpuNs(pgid) {
  let total = 0;
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try { if (Number(statFields(p)[2]) === pgid) total += cpuNs(p); } catch {}
  }
  return total;
}

// The page itself comes from a third origin (a tiny server here), as Label Studio's would. It
// also receives each timed run's result.
const pages = {};
let reported = null; // resolves the running timed run with what its page posted
const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/done') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { res.writeHead(204).end(); reported?.(JSON.parse(body)); });
    return;
  }
  const body = pages[req.url];
  res.writeHead(body ? 200 : 404, { 'content-type': 'text/html', 'cache-control': 'no-store' });
  res.end(body ?? 'not found');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const pageBase = `http://127.0.0.1:${server.address().port}`;

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', ...(spec.chromium_args ?? [])];
const modes = Object.keys(spec.modes);
const n = spec.modes[modes[0]].urls.length;
for (const [mode, { urls }] of Object.entries(spec.modes)) {
  // The page times itself: from navigation start until every image has loaded and decoded
  // (decode() resolves once the pixels are ready to paint), then posts that back.
  pages[`/${mode}.html`] = `<!doctype html><html><body>${urls.map((u) =>
    `<img src="${u.replaceAll('&', '&amp;')}" width="64" height="64">`).join('')}<script>
addEventListener('load', async () => {
  const ok = await Promise.all([...document.images].map((i) => i.decode().then(() => i.naturalWidth > 0, () => false)));
  const ms = performance.now();
  fetch('/done', { method: 'POST', body: JSON.stringify({ ms, decoded: ok.filter(Boolean).length }) });
});
</script></body></html>`;
}

// Untimed, instrumented: what the service sends per image and which statuses the browser saw.
async function inspect(mode) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS });
  const page = await (await browser.newContext({ serviceWorkers: 'block' })).newPage();
  const { origin } = spec.modes[mode];
  const sizes = [];
  const statuses = {};
  page.on('requestfinished', (req) => {
    if (req.url().startsWith(origin)) sizes.push(req.sizes().then((s) => s.responseHeadersSize + s.responseBodySize));
  });
  page.on('response', (r) => { const k = `${new URL(r.url()).port}:${r.status()}`; statuses[k] = (statuses[k] ?? 0) + 1; });
  const done = new Promise((r) => { reported = r; });
  await page.goto(`${pageBase}/${mode}.html`, { timeout: 120000 });
  const { decoded } = await done;
  const bytes = (await Promise.all(sizes)).reduce((x, y) => x + y, 0);
  await browser.close();
  return { decoded, bytes_per_image: bytes / n, statuses };
}

// Bytes the server at `origin` has sent on its open connections, as TCP counts them: each
// timed run starts a new browser, so these are that run's connections.
function sentOnConnections(origin) {
  const port = new URL(origin).port;
  const out = execFileSync('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  return [...out.matchAll(/bytes_acked:(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

// The process groups of the timed runs' Chromiums still alive, killed too if this script ends
// or is interrupted: they are detached, so a Ctrl-C or page.sh's exit would not reach them.
const liveChromes = new Set();
function killGroup(pgid) {
  try { process.kill(-pgid, 'SIGKILL'); } catch {} // ESRCH: the whole group has already ended
}
process.on('exit', () => liveChromes.forEach(killGroup));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { liveChromes.forEach(killGroup); process.exit(128 + constants.signals[sig]); });
}

const fronts = spec.front_pids ?? [];
const frontCpuNs = () => fronts.reduce((sum, p) => sum + cpuNs(p), 0);

// Timed: a fresh Chromium with a fresh profile and nothing attached.
async function load(mode) {
  const { pid } = spec.modes[mode];
  const profile = mkdtempSync(`${tmpdir()}/ls-presign-page-`);
  const done = new Promise((r) => { reported = r; });
  const cpu0 = cpuNs(pid), ticks0 = statTicks(pid), front0 = frontCpuNs();
  const chrome = spawn('/usr/bin/chromium', [...FLAGS, `--user-data-dir=${profile}`, `${pageBase}/${mode}.html`],
    { stdio: 'ignore', detached: true }); // its own process group, to stop every child at the end
  liveChromes.add(chrome.pid);
  const exited = new Promise((r) => { chrome.once('exit', r); chrome.once('error', r); }); // error: it did not start
  const timeout = setTimeout(() => reported?.({ ms: NaN, decoded: 0 }), 120000);
  // A Chromium that ends before its page reports (crash, failed start) is a failed run.
  const failed = { ms: NaN, decoded: 0 };
  const { ms, decoded } = await Promise.race([done, exited.then(() => failed)]);
  clearTimeout(timeout);
  // Let the last responses finish being counted, then read the CPU.
  await new Promise((r) => setTimeout(r, 200));
  const cpu = cpuNs(pid) - cpu0, ticks = statTicks(pid) - ticks0, front = frontCpuNs() - front0;
  const sent = sentOnConnections(spec.modes[mode].origin);
  const browserCpu = groupCpuNs(chrome.pid);
  killGroup(chrome.pid);
  await exited;
  liveChromes.delete(chrome.pid);
  rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  return { mode, ms: Math.round(ms), decoded, images: n, cpu_ms: cpu / 1e6, cpu_us_per_image: cpu / 1e3 / n,
    stat_ticks: ticks, browser_cpu_ms: browserCpu / 1e6, sent_bytes_per_image: sent / n, ...(fronts.length ? { front_cpu_us_per_image: front / 1e3 / n } : {}) };
}

const inspected = {};
for (const mode of modes) inspected[mode] = await inspect(mode);
console.error(JSON.stringify({ warmup: inspected }));
const results = Object.fromEntries(modes.map((m) => [m, []]));
for (let i = 0; i < Number(a.runs); i++) {
  // Each round in a different order, so drifting machine load hits every mode alike.
  for (const mode of [...modes.slice(i % modes.length), ...modes.slice(0, i % modes.length)]) {
    const r = await load(mode);
    results[mode].push(r);
    console.error(JSON.stringify(r));
  }
}
server.close();
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const summary = {};
for (const [mode, rs] of Object.entries(results)) {
  summary[mode] = { runs: rs.length, all_decoded: inspected[mode].decoded === n && rs.every((r) => r.decoded === n),
    page_ms: median(rs.map((r) => r.ms)), cpu_us_per_image: median(rs.map((r) => r.cpu_us_per_image)),
    browser_cpu_ms: median(rs.map((r) => r.browser_cpu_ms)),
    ...(fronts.length ? { front_cpu_us_per_image: median(rs.map((r) => r.front_cpu_us_per_image)) } : {}),
    bytes_per_image: inspected[mode].bytes_per_image,
    sent_bytes_per_image: median(rs.map((r) => r.sent_bytes_per_image)), statuses: inspected[mode].statuses,
    page_ms_all: rs.map((r) => r.ms), cpu_us_per_image_all: rs.map((r) => +r.cpu_us_per_image.toFixed(1)) };
}
// Every mode against proxy mode: how much less service CPU per image, how much longer the page.
for (const mode of modes.filter((m) => m !== 'proxy')) {
  summary[`ratio_cpu_proxy_over_${mode}`] = summary.proxy.cpu_us_per_image / summary[mode].cpu_us_per_image;
  summary[`ratio_page_${mode}_over_proxy`] = summary[mode].page_ms / summary.proxy.page_ms;
}
console.log(JSON.stringify(summary, null, 2));
