// Browser side of scripts/bench/page.sh: loads a page of N <img> stable links in headless
// Chromium (Debian's /usr/bin/chromium through playwright-core), alternately against the
// presign-mode and the proxy-mode service, and reports per run: time until every image has
// decoded, the service's CPU time (sum over its threads of /proc/<pid>/task/*/schedstat, ns)
// and the bytes it sent per image (response headers + bodies, as Chromium counts them).
//
//   node scripts/bench/page.mjs --spec spec.json --runs 5
// spec.json: {"tokens": [...], "modes": {"presign": {"base": URL, "pid": N}, "proxy": {...}}}
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const require = createRequire(new URL('../../tests/e2e/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const { values: a } = parseArgs({ options: { spec: { type: 'string' }, runs: { type: 'string', default: '5' } } });
const spec = JSON.parse(readFileSync(a.spec, 'utf8'));

function cpuNs(pid) {
  // schedstat: on-CPU ns per thread; summing the threads gives the process's CPU time with
  // nanosecond resolution (/proc/<pid>/stat counts 10 ms ticks).
  const fs = require('node:fs');
  let total = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try { total += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch {}
  }
  return total;
}
function statTicks(pid) {
  const f = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks (fields 14, 15)
}

// The page itself comes from a third origin (a tiny server here), as Label Studio's would.
const http = require('node:http');
const pages = {};
const server = http.createServer((req, res) => {
  const body = pages[req.url];
  res.writeHead(body ? 200 : 404, { 'content-type': 'text/html', 'cache-control': 'no-store' });
  res.end(body ?? 'not found');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const pageBase = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

async function load(mode) {
  const { base, pid } = spec.modes[mode];
  const n = spec.tokens.length;
  pages[`/${mode}.html`] = `<!doctype html><html><body>${spec.tokens.map((t) =>
    `<img src="${base}/r/${t}" width="64" height="64">`).join('')}</body></html>`;
  // A fresh context each run: an empty HTTP cache, as a new annotator session.
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const page = await context.newPage();
  const sizes = [];
  const statuses = {};
  page.on('requestfinished', (req) => {
    if (req.url().startsWith(base)) sizes.push(req.sizes().then((s) => s.responseHeadersSize + s.responseBodySize));
  });
  page.on('response', (r) => { const k = `${new URL(r.url()).port}:${r.status()}`; statuses[k] = (statuses[k] ?? 0) + 1; });
  const cpu0 = cpuNs(pid), ticks0 = statTicks(pid);
  const t0 = Date.now();
  await page.goto(`${pageBase}/${mode}.html`, { waitUntil: 'load', timeout: 120000 });
  // Every image loaded and decoded (decode() resolves once the pixels are ready to paint).
  const decoded = await page.evaluate(async () => {
    const imgs = [...document.images];
    const ok = await Promise.all(imgs.map((i) => i.decode().then(() => i.naturalWidth > 0, () => false)));
    return ok.filter(Boolean).length;
  });
  const ms = Date.now() - t0;
  // Let the last responses finish being counted, then read the CPU.
  await new Promise((r) => setTimeout(r, 200));
  const cpu = cpuNs(pid) - cpu0, ticks = statTicks(pid) - ticks0;
  const bytes = (await Promise.all(sizes)).reduce((x, y) => x + y, 0);
  await context.close();
  return { mode, ms, decoded, images: n, cpu_ms: cpu / 1e6, cpu_us_per_image: cpu / 1e3 / n,
    stat_ticks: ticks, bytes_per_image: bytes / n, statuses };
}

const results = { presign: [], proxy: [] };
await load('presign'); await load('proxy'); // warm-up (fills the presign cache, opens pools)
for (let i = 0; i < Number(a.runs); i++) {
  for (const mode of (i % 2 ? ['proxy', 'presign'] : ['presign', 'proxy'])) {
    const r = await load(mode);
    results[mode].push(r);
    console.error(JSON.stringify(r));
  }
}
await browser.close();
server.close();
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const summary = {};
for (const [mode, rs] of Object.entries(results)) {
  summary[mode] = { runs: rs.length, all_decoded: rs.every((r) => r.decoded === r.images),
    page_ms: median(rs.map((r) => r.ms)), cpu_us_per_image: median(rs.map((r) => r.cpu_us_per_image)),
    bytes_per_image: median(rs.map((r) => r.bytes_per_image)), page_ms_all: rs.map((r) => r.ms),
    cpu_us_per_image_all: rs.map((r) => +r.cpu_us_per_image.toFixed(1)) };
}
summary.ratio_cpu_proxy_over_presign = summary.proxy.cpu_us_per_image / summary.presign.cpu_us_per_image;
summary.ratio_page_presign_over_proxy = summary.presign.page_ms / summary.proxy.page_ms;
console.log(JSON.stringify(summary, null, 2));
