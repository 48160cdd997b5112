// Opens one task in Label Studio's labeling UI in headless Chromium and checks that the image
// came through ls-presign: the stable link answered 303, the presigned GET answered 200 with
// the bytes, and the editor painted them. Prints one JSON object; exits 1 on failure.
//
//   node tests/e2e/browser_check.mjs --ls http://127.0.0.1:8080 --user U --password P \
//        --project 1 --task 3 --link http://127.0.0.1:9090/r/... [--screenshot f.png] [--timeout 60]
//        [--logout]
// --logout: afterwards sign out through Label Studio's menu URL (/logout) and report, in
// `afterLogout`, what the link then answers to the same page (`fetch`, same origin) and whether
// the task page still opens.
import { chromium } from 'playwright-core';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    ls: { type: 'string' }, user: { type: 'string' }, password: { type: 'string' },
    project: { type: 'string' }, task: { type: 'string' }, link: { type: 'string' },
    screenshot: { type: 'string' }, timeout: { type: 'string', default: '60' },
    logout: { type: 'boolean', default: false },
  },
});
for (const k of ['ls', 'user', 'password', 'project', 'task', 'link']) {
  if (!a[k]) { console.error(`browser_check: --${k} is required`); process.exit(2); }
}
const ls = a.ls.replace(/\/$/, '');
const taskId = Number(a.task);
const timeoutMs = Number(a.timeout) * 1000;
const started = Date.now();
// errors fail the check; notes (page errors, aborted duplicate loads) are only reported.
const result = { ok: false, task: taskId, link: null, object: null, editor: null, errors: [], notes: [] };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
// LS registers a service worker; it would hide the real network traffic from us.
const context = await browser.newContext({ serviceWorkers: 'block', viewport: { width: 1280, height: 900 } });
const page = await context.newPage();

// Every response to the stable link, and every response to a request it redirected to.
// The Data Manager thumbnail <img> and the editor's fetch may both load the link.
const linkResponses = [];
const objectResponses = [];
page.on('response', (resp) => {
  const req = resp.request();
  if (req.url() === a.link) {
    linkResponses.push({ status: resp.status(), location: resp.headers()['location'] ?? null,
      acao: resp.headers()['access-control-allow-origin'] ?? null, type: req.resourceType() });
  } else if (req.redirectedFrom()?.url() === a.link) {
    // Read the body now: it is gone once the page navigates or closes.
    objectResponses.push(resp.body().then(
      (b) => ({ url: req.url(), status: resp.status(), contentType: resp.headers()['content-type'] ?? null,
        bytes: b.length, type: req.resourceType() }),
      (e) => ({ url: req.url(), status: resp.status(), error: String(e), type: req.resourceType() })));
  }
});
page.on('pageerror', (e) => result.notes.push(`pageerror: ${e.message}`.slice(0, 300)));
page.on('requestfailed', (r) => {
  if (r.url() === a.link || r.redirectedFrom()?.url() === a.link) {
    result.notes.push(`requestfailed: ${r.url().slice(0, 120)} ${r.failure()?.errorText}`);
  }
});

// What the labeling page shows for our task; polled until done or failed.
function editorState(taskId) {
  const main = document.querySelector('.lsf-main-view');
  const img = document.querySelector('.lsf-main-view .lsf-object img');
  const st = {
    htxTask: window.Htx?.task?.id ?? null,
    img: img ? { complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
      src: img.src.slice(0, 40) } : null,
    canvas: null,
    loadError: !!main && main.innerText.includes('There was an issue loading URL'),
  };
  // A canvas "painted" = some non-transparent pixel; distinct colors tell an image from a fill.
  for (const c of document.querySelectorAll('.lsf-main-view canvas')) {
    if (!c.width || !c.height) continue;
    const ctx = c.getContext('2d');
    if (!ctx) continue;
    let d;
    try { d = ctx.getImageData(0, 0, c.width, c.height).data; } catch (e) { st.canvas = { error: String(e) }; continue; }
    let painted = 0; const colors = new Set();
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3]) { painted++; if (colors.size < 1000) colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); }
    }
    if (painted && (!st.canvas || painted > st.canvas.painted)) {
      st.canvas = { width: c.width, height: c.height, painted, colors: colors.size };
    }
  }
  // 16+ colors: more than a flat background or placeholder fill.
  st.done = st.htxTask === taskId && !!st.img?.complete && st.img.naturalWidth > 0
    && (st.canvas?.colors ?? 0) >= 16;
  return st;
}

try {
  await page.goto(`${ls}/user/login/`, { timeout: timeoutMs });
  await page.fill('#email', a.user);
  await page.fill('#password', a.password);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => !u.pathname.startsWith('/user/login'), { timeout: timeoutMs });

  // /projects/<pid>/labeling is a 404 in 1.23.2 and data?labeling=1&task= ignores the task.
  await page.goto(`${ls}/projects/${a.project}/data?task=${taskId}`, { timeout: timeoutMs });
  const deadline = Date.now() + timeoutMs;
  let st;
  for (;;) {
    st = await page.evaluate(editorState, taskId);
    if (st.done || st.loadError || Date.now() > deadline) break;
    await page.waitForTimeout(250);
  }
  result.editor = st;
  if (st.loadError) result.errors.push('editor: "There was an issue loading URL"');
  else if (!st.done) result.errors.push(`editor: not painted within ${a.timeout}s`);
} catch (e) {
  result.errors.push(`exception: ${e.message}`.slice(0, 500));
}

if (a.logout) {
  try {
    await page.goto(`${ls}/logout`, { timeout: timeoutMs });
    await page.waitForURL((u) => u.pathname.startsWith('/user/login'), { timeout: timeoutMs });
    // The link as the page's own script would load it: same origin, cookies if there are any.
    const link = await page.evaluate(async (url) => {
      const r = await fetch(url, { redirect: 'manual' });
      return { status: r.status, type: r.type, body: r.type === 'basic' ? (await r.text()).slice(0, 300) : null };
    }, a.link);
    await page.goto(`${ls}/projects/${a.project}/data?task=${taskId}`, { timeout: timeoutMs });
    result.afterLogout = { link, taskPage: new URL(page.url()).pathname };
  } catch (e) {
    result.errors.push(`logout: ${e.message}`.slice(0, 500));
  }
}

if (a.screenshot) {
  await page.screenshot({ path: a.screenshot }).catch((e) => result.errors.push(`screenshot: ${e.message}`));
  result.screenshot = a.screenshot;
}
const objects = await Promise.all(objectResponses);
await browser.close();

// The editor loads the image with XHR (CORS, then a blob: URL); the Data Manager thumbnail is
// a plain <img>. The XHR is the path that needs CORS on both the 303 and the object, so judge it.
const byEditor = (r) => r.type === 'xhr' || r.type === 'fetch';
result.link = linkResponses.find(byEditor) ?? null;
result.object = objects.find(byEditor) ?? null;
result.seen = { link: linkResponses.map((r) => `${r.type} ${r.status}`), object: objects.map((r) => `${r.type} ${r.status}`) };
if (result.link?.status !== 303) result.errors.push(`link: expected a 303 to the editor's XHR, saw ${JSON.stringify(linkResponses)}`);
// `*`, or Label Studio's own origin when the service is mounted under it (LS_PRESIGN_CORS_ORIGIN).
if (result.link && ![ '*', new URL(ls).origin ].includes(result.link.acao)) {
  result.errors.push(`link: 303 with Access-Control-Allow-Origin ${result.link.acao}, not * or ${new URL(ls).origin}`);
}
if (!(result.object?.status === 200 && result.object.bytes > 0)) {
  result.errors.push(`object: expected a 200 with bytes to the editor's XHR after the redirect, saw ${JSON.stringify(objects)}`);
}
result.ok = result.errors.length === 0 && !!result.editor?.done;
result.elapsedMs = Date.now() - started;
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
