// End-to-end test of the ha-sync dashboard in headless Chromium.
//
// Runs the built ha-sync-ui on an SQLite store seeded by ui_seed (the real
// audit writer), opens the page in Debian's /usr/bin/chromium driven by
// playwright-core (no browser is ever downloaded) and checks what an
// operator sees. Screenshots go to HA_SYNC_UI_SCREENSHOT_DIR.
//
// Environment (meson sets these): HA_SYNC_UI_BIN, HA_SYNC_UI_SEED_BIN,
// HA_SYNC_UI_SCREENSHOT_DIR; optional CHROMIUM_BIN (default /usr/bin/chromium).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function fatal(message) {
  console.error('ui-browser: ' + message);
  process.exit(1);
}

if (!fs.existsSync(path.join(here, 'node_modules', 'playwright-core'))) {
  fatal(`node_modules is missing in ${here}: run "npm ci" there first (scripts/run-tests does)`);
}
const { chromium } = await import('playwright-core');

const UI_BIN = process.env.HA_SYNC_UI_BIN || fatal('HA_SYNC_UI_BIN is not set (run through meson test)');
const SEED_BIN = process.env.HA_SYNC_UI_SEED_BIN || fatal('HA_SYNC_UI_SEED_BIN is not set');
const SHOTS = process.env.HA_SYNC_UI_SCREENSHOT_DIR || os.tmpdir();
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) fatal(`${CHROMIUM} not found: apt-get install chromium`);

const XSS_NAME = '<img src=x onerror=alert(1)>';
const XSS_ERROR = '<script>alert(2)</script>';
const RED = 'rgb(198, 40, 40)'; // --bad in app.css (light scheme)

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ha-sync-ui-e2e-'));
const logDir = path.join(tmp, 'log');
const dbPath = path.join(logDir, 'ha-sync.db');
const children = [];
let context;
let baseUrl;
const dialogs = [];
const pageErrors = [];

// Starts ha-sync-ui on a free port; resolves with its base URL.
function startUi(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn(UI_BIN, ['--listen', '127.0.0.1:0', '--log-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error('ha-sync-ui did not start: ' + out)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`ha-sync-ui exited (${code}): ${out}`)); });
  });
}

function seed(...args) {
  execFileSync(SEED_BIN, args, { stdio: 'inherit' });
}

async function newPage(viewport) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  return page;
}

const card = (page, pair) => page.locator(`article.card[data-pair="${pair}"]`);

before(async () => {
  fs.mkdirSync(logDir);
  seed('standard', dbPath);
  baseUrl = await startUi(logDir);
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
  });
});

after(async () => {
  if (context) await context.close();
  for (const c of children) c.kill('SIGTERM');
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Tests that inspect elements use a slow refresh: every refresh replaces the cards.
test('the page loads and the cards show the seeded numbers', async () => {
  const page = await newPage();
  const response = await page.goto(baseUrl + '/#refresh=300');
  assert.equal(response.status(), 200);
  await card(page, 'media').waitFor();
  const pairs = await page.locator('article.card').evaluateAll((els) => els.map((e) => e.dataset.pair));
  assert.deepEqual(pairs, ['ai', 'games', 'infra', 'media', 'owncloud', 'photos']);

  const real = card(page, 'media').locator('[data-direction="dell-to-hp"] [data-kind="real"]');
  const count = async (what) => (await real.locator(`[data-count="${what}"] b`).textContent()).trim();
  assert.equal(await count('created'), '12');
  assert.equal(await count('updated'), '3');
  assert.equal(await count('deleted'), '1');
  assert.equal(await count('failed'), '0');
  assert.match(await real.textContent(), /12 min ago/);
  assert.match(await real.textContent(), /5\.00 MB/);
  assert.match(await real.locator('.conflicts').textContent(), /1 conflict copy kept/);
  const dry = card(page, 'media').locator('[data-direction="dell-to-hp"] [data-kind="dry-run"]');
  assert.equal((await dry.locator('[data-count="created"] b').textContent()).trim(), '4');
  assert.match(await dry.textContent(), /3 min ago/);
  // Its dry-run is the pending plan: planned counts, not applied, the apply command.
  const plan = card(page, 'media').locator('[data-direction="dell-to-hp"] .plan-block');
  assert.equal(await plan.getAttribute('data-applied'), 'no');
  assert.equal((await plan.locator('[data-planned="create"] b').textContent()).trim(), '4');
  assert.match(await plan.textContent(), /not applied/);
  assert.match(await plan.textContent(), /ha-sync apply --plan \d+/);

  // Healthy, failed, stale, running.
  assert.equal(await card(page, 'media').getAttribute('class'), 'card');
  for (const bad of ['photos', 'infra', 'owncloud']) {
    assert.match(await card(page, bad).getAttribute('class'), /card-bad/, bad);
    const border = await card(page, bad).evaluate((e) => getComputedStyle(e).borderTopColor);
    assert.equal(border, RED, bad);
  }
  assert.match(await card(page, 'owncloud').locator('.attention').textContent(), /no run for 3 h/);
  assert.match(await card(page, 'photos').locator('[data-count="failed"]').first().getAttribute('class'), /count-bad/);
  assert.match(await card(page, 'ai').locator('[data-kind="running"]').textContent(), /running/);
  assert.match(await card(page, 'infra').locator('.error-text').textContent(), /marker '.ha-sync-marker' is missing/);

  // The chart is our own inline SVG: one bar per recent real run.
  await card(page, 'media').locator('svg.spark').waitFor();
  assert.equal(await card(page, 'media').locator('svg.spark rect.bar').count(), 10);

  // Recent activity lists every run.
  assert.equal(await page.locator('#activity-body tr').count(), 18);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-desktop.png'), fullPage: true });
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('a run shows its operations: failed ones red, names as text, the undo command', async () => {
  const page = await newPage();
  await page.goto(baseUrl + '/#refresh=300');
  await card(page, 'photos').waitFor();
  await card(page, 'photos').locator('[data-direction="dell-to-hp"] [data-kind="real"] button.run-link').click();
  await page.locator('#ops-body tr').first().waitFor();
  assert.equal(await page.locator('#ops-body tr').count(), 7);
  const failed = page.locator('#ops-body tr.op-fail');
  assert.equal(await failed.count(), 2);
  const errorCell = failed.nth(1).locator('td.error-text');
  assert.equal(await errorCell.textContent(), XSS_ERROR);
  assert.equal(await errorCell.evaluate((e) => getComputedStyle(e).color), RED);
  assert.equal(await failed.first().locator('td.path').textContent(), 'raw/\\xff\\xfe-bytes.jpg');
  assert.match(await page.locator('#run-undo').textContent(), /ha-sync undo --dest \/mnt\/hp\/photos --pair photos --run-id 5eed[0-9a-f]{28}/);

  await page.locator('#failed-only').check();
  await page.waitForFunction(() => document.querySelectorAll('#ops-body tr').length === 2);
  assert.match(await page.locator('#ops-count').textContent(), /2 operations \(failed only\)/);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-run.png'), fullPage: true });
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('a file named like HTML is shown as text and runs nothing', async () => {
  const page = await newPage();
  await page.goto(baseUrl + '/#refresh=1');
  await card(page, 'media').waitFor();
  await card(page, 'media').locator('[data-direction="dell-to-hp"] [data-kind="real"] button.run-link').click();
  const first = page.locator('#ops-body tr').first();
  await first.waitFor();
  assert.equal(await first.locator('td.path').textContent(), XSS_NAME);
  const conflict = page.locator('#ops-body td.path.conflict');
  assert.equal(await conflict.count(), 1);
  assert.match(await conflict.textContent(), /\.ha-sync-conflict-.*conflict copy$/);
  // Give a would-be onerror handler time to fire, across a refresh.
  const before = Number(await page.evaluate(() => document.body.dataset.refreshes));
  await page.waitForFunction((n) => Number(document.body.dataset.refreshes) > n, before);
  assert.equal(await page.locator('img').count(), 0);
  assert.equal(await page.locator('#ops-body script').count(), 0);
  assert.deepEqual(dialogs, []);
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('the page refreshes by itself without reloading', async () => {
  const page = await newPage();
  let navigations = 0;
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations += 1; });
  await page.goto(baseUrl + '/#refresh=1');
  await card(page, 'media').waitFor();
  await page.evaluate(() => { window.haSyncTestMarker = 'still here'; });
  const navigationsBefore = navigations;
  seed('add-run', dbPath, 'zeta', 'left-to-right', '7');
  const zeta = card(page, 'zeta');
  await zeta.waitFor({ timeout: 15000 });
  assert.equal((await zeta.locator('[data-kind="real"] [data-count="created"] b').textContent()).trim(), '7');
  assert.equal(await page.locator('#activity-body tr').count(), 19);
  assert.equal(await page.evaluate(() => window.haSyncTestMarker), 'still here');
  assert.equal(navigations, navigationsBefore);
  await page.close();
});

test('phone width: one column, nothing wider than the screen', async () => {
  const page = await newPage({ width: 390, height: 844 });
  await page.goto(baseUrl + '/#refresh=300');
  await card(page, 'media').waitFor();
  await card(page, 'media').locator('svg.spark').waitFor();
  const widths = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    view: window.innerWidth,
    cards: [...document.querySelectorAll('article.card')].map((c) => c.getBoundingClientRect().width),
  }));
  assert.ok(widths.doc <= widths.view, `page is ${widths.doc}px wide on a ${widths.view}px screen`);
  for (const w of widths.cards) assert.ok(w <= widths.view && w > widths.view * 0.8, `card width ${w}`);
  // What a phone shows first, then the whole page.
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-phone.png') });
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-phone-full.png'), fullPage: true });
  await page.locator('section.panel').last().screenshot({ path: path.join(SHOTS, 'dashboard-phone-activity.png') });
  await card(page, 'photos').locator('[data-direction="dell-to-hp"] [data-kind="real"] button.run-link').click();
  await page.locator('#ops-body tr').first().waitFor();
  await page.locator('#run').screenshot({ path: path.join(SHOTS, 'dashboard-phone-run.png') });
  const after = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(after <= widths.view, `with a run open the page is ${after}px wide`);
  await page.close();
});

test('no database yet: a banner, then the data once the store appears', async () => {
  const emptyDir = path.join(tmp, 'empty-log');
  fs.mkdirSync(emptyDir);
  const url = await startUi(emptyDir);
  const page = await newPage();
  await page.goto(url + '/#refresh=1');
  const banner = page.locator('#banner');
  await banner.waitFor({ state: 'visible' });
  assert.match(await banner.textContent(), /audit database is unavailable/);
  assert.equal(await banner.evaluate((e) => getComputedStyle(e).color), RED);
  fs.copyFileSync(dbPath, path.join(emptyDir, 'ha-sync.db'));
  await card(page, 'media').waitFor({ timeout: 15000 });
  await banner.waitFor({ state: 'hidden' });
  await page.close();
});
