// The dashboard in Chromium (playwright-core driving Debian's /usr/bin/chromium): a run
// page gains chart points and shows a new grid within 2 s of the files changing, the
// compare view overlays two runs, a traversal URL is refused, and screenshots are written
// to a folder this test prints. Skipped, saying why, where Chromium is not installed
// (scripts/test.sh installs it where apt-get can).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer } from '../src/serve/server.js';
import { appendRows, png, row, writeRun } from './serve-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no ${CHROMIUM}: the browser tests need Debian's chromium (apt-get install chromium; scripts/test.sh installs it when run as root)`;

/** Where the screenshots go: printed, kept after the run. */
const SHOTS = join(tmpdir(), 'ganforge-dashboard-screenshots');

async function points(page: Page, scalar: string): Promise<number> {
  return Number(await page.getAttribute(`.chart[data-scalar="${scalar}"]`, 'data-points'));
}

test('dashboard in Chromium: live run page, compare view, a refused traversal, screenshots', { skip }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gf-browser-'));
  let browser: Browser | null = null;
  const server = await startServer({ dirs: [root], port: 0 });
  try {
    const a = join(root, 'run-a');
    const rowsA = Array.from({ length: 20 }, (_, i) => row((i + 1) * 10, (i + 1) * 0.32));
    await writeRun({ dir: a, kimg: 20, rows: rowsA, samples: ['000000.000.png', '000003.200.png'] });
    await writeRun({ dir: join(root, 'run-b'), kimg: 20, rows: rowsA.map((r) => ({ ...r, loss_G: (r.loss_G as number) * 1.5 })) });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    // The run page: a chart per scalar with the rows already written, the newest grid shown.
    await page.goto(`${server.url}#/run/run-a`);
    await page.waitForSelector('.chart[data-scalar="loss_G"][data-points="20"]', { timeout: 10_000 });
    assert.equal(await points(page, 'img_per_s'), 20);
    assert.equal(await page.getAttribute('#sample-img', 'data-name'), '000003.200.png');
    assert.match((await page.textContent('#config')) ?? '', /"kimg": 20/);
    assert.match((await page.textContent('#checkpoints')) ?? '', /000000\.000/);

    // Live: rows appended and a new grid written reach the page within 2 s.
    const t0 = performance.now();
    appendRows(a, [row(210, 6.72), row(220, 7.04), row(230, 7.36)]);
    writeFileSync(join(a, 'samples', '000007.360.png'), await png('#0a0', 16));
    // (Expressions as strings: they run in the page, and this project compiles without DOM types.)
    await page.waitForFunction(`document.querySelector('.chart[data-scalar="loss_G"]')?.getAttribute('data-points') === '23'`, null, { timeout: 2000 });
    await page.waitForFunction(`(() => {
      const img = document.querySelector('#sample-img');
      return img?.dataset.name === '000007.360.png' && img.complete && img.naturalWidth === 16;
    })()`, null, { timeout: 2000 });
    const seen = performance.now() - t0;
    assert.ok(seen < 2000, `the page showed the new rows and grid after ${seen.toFixed(0)} ms`);
    assert.match((await page.textContent('#sample-label')) ?? '', /3 of 3/);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'run.png'), fullPage: true });

    // The compare view: one chart per scalar with a series per run, and both newest grids.
    await page.goto(`${server.url}#/compare/run-a,run-b`);
    await page.waitForSelector('.chart[data-scalar="loss_G"][data-points="43"]', { timeout: 5000 });
    const legend = await page.$$eval('.chart[data-scalar="loss_G"] .u-legend .u-series', (els) => els.map((e) => e.textContent ?? ''));
    assert.ok(legend.some((s) => s.includes('run-a')) && legend.some((s) => s.includes('run-b')), `legend: ${legend.join(' | ')}`);
    assert.equal(await page.locator('.grids figure img').count(), 2);
    await page.screenshot({ path: join(SHOTS, 'compare.png'), fullPage: true });

    // The runs list.
    await page.goto(`${server.url}#/`);
    await page.waitForSelector('#runs tr[data-run="run-b"]', { timeout: 5000 });
    assert.match((await page.textContent('#runs tr[data-run="run-a"]')) ?? '', /interrupted/);
    await page.screenshot({ path: join(SHOTS, 'runs.png'), fullPage: true });

    // A traversal the browser sends as it is (an encoded slash is not folded away).
    const refused = await page.goto(`${server.url}runs/run-a/..%2f..%2f..%2fetc%2fpasswd`);
    assert.equal(refused?.status(), 403);
    assert.doesNotMatch((await page.textContent('body')) ?? '', /root:/);
    assert.deepEqual(errors, []);
    t.diagnostic(`screenshots: ${join(SHOTS, 'run.png')}, ${join(SHOTS, 'compare.png')}, ${join(SHOTS, 'runs.png')}`);
  } finally {
    await browser?.close();
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
});
