/**
 * The web page end to end in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core): it loads the
 * model's metadata, warns about random weights, classifies an image chosen, dropped or pasted, or a sample, and shows
 * five bars and the latency; a refusal leaves no stale image, mark or name. Run with `npm run test:e2e`; screenshots
 * are written to the temp folder for a human to look at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type JSHandle, type Page } from 'playwright-core';
import { png } from '../support/images.js';
import { startTestServer, type TestServer } from '../support/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let server: TestServer;
let browser: BrowserContext;
let profile: string;
let base: string;
let labels: readonly string[];

beforeAll(async () => {
  server = await startTestServer(['--threads', '2', '--http-port', '0']);
  base = `http://127.0.0.1:${server.httpPort}`;
  labels = (await server.ready).metadata().labels;
  profile = await mkdtemp(join(tmpdir(), 'xception-chromium-'));
  // An empty profile of our own (playwright passes it as --user-data-dir), removed afterwards.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.shutdown(1000);
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** A page that records every script error and console error (a CSP violation shows up as one). */
async function openPage(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  // The keyboard and file-chooser tests need the page focused; earlier pages of the same browser may hold it.
  await page.bringToFront();
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, problems };
}

/** A DataTransfer in the page holding one PNG file, as a drop or a paste carries it. */
async function transferOf(page: Page, name: string, bytes: Buffer): Promise<JSHandle<DataTransfer>> {
  return page.evaluateHandle(
    ({ name, base64 }) => {
      const transfer = new DataTransfer();
      const data = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      transfer.items.add(new File([data], name, { type: 'image/png' }));
      return transfer;
    },
    { name, base64: bytes.toString('base64') },
  );
}

const fiveBars = (page: Page) => page.waitForFunction(() => document.querySelectorAll('.bar-row').length === 5);

/** Images on show that the browser could not draw: broken-image icons. */
const brokenImages = (page: Page) =>
  page.$$eval(
    'img',
    (images) =>
      images.filter(
        (img) => img.getClientRects().length > 0 && img.getAttribute('src') && !(img.complete && img.naturalWidth > 0),
      ).length,
  );

async function bars(page: Page): Promise<{ label: string; value: string; width: number }[]> {
  return page.$$eval('.bar-row', (rows) =>
    rows.map((row) => ({
      label: row.querySelector('.bar-label')!.textContent ?? '',
      value: row.querySelector('.bar-value')!.textContent ?? '',
      width: (row.querySelector('.bar') as HTMLElement).getBoundingClientRect().width,
    })),
  );
}

describe('the web page', () => {
  it('shows the model, its engine and backend, and warns that the weights are not pretrained', async () => {
    const { page, problems } = await openPage();
    try {
      await expect.poll(() => page.textContent('#model-name')).toBe('xception');
      const facts = await page.textContent('#model-facts');
      expect(facts).toMatch(/Engine\s*onnx/);
      expect(facts).toMatch(/Backend/);
      expect(facts).toMatch(/NOT pretrained/);
      expect(await page.isVisible('#not-pretrained')).toBe(true);
      expect(await page.textContent('#not-pretrained')).toMatch(/Not pretrained/);
      expect(await page.$$eval('.sample', (s) => s.length)).toBe((await server.ready).metadata().sampleFiles.length);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('classifies an uploaded PNG and draws five bars, largest first', async () => {
    const { page, problems } = await openPage();
    try {
      await page.setInputFiles('#file-input', {
        name: 'generated.png',
        mimeType: 'image/png',
        buffer: await png(320, 240, 3),
      });
      await page.waitForFunction(() => document.querySelectorAll('.bar-row').length === 5);
      const shown = await bars(page);
      expect(shown).toHaveLength(5);
      for (const bar of shown) {
        expect(labels).toContain(bar.label);
        expect(bar.value).toMatch(/^\d+(\.\d+)?%$/);
      }
      const values = shown.map((b) => Number.parseFloat(b.value));
      expect(values).toEqual([...values].sort((a, b) => b - a));
      const widths = shown.map((b) => b.width);
      expect(widths[0]).toBeGreaterThanOrEqual(widths[4]!);
      expect(await page.isVisible('#preview')).toBe(true);
      expect(await page.textContent('#result-meta')).toMatch(/1000 classes/);
      expect(await page.isVisible('#status')).toBe(false);

      const screenshot = join(tmpdir(), 'xception-page.png');
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`screenshot: ${screenshot}`);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('classifies a sample picked from the list', async () => {
    const { page, problems } = await openPage();
    try {
      await page.click('.sample >> nth=1');
      await page.waitForFunction(() => document.querySelectorAll('.bar-row').length === 5);
      expect(await page.$$eval('.sample.chosen', (s) => s.length)).toBe(1);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("shows the server's refusal of a GIF instead of bars, with no image left on show", async () => {
    const { page } = await openPage();
    try {
      const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
      await page.setInputFiles('#file-input', { name: 'tiny.gif', mimeType: 'image/gif', buffer: gif });
      await page.waitForSelector('#status:not([hidden])');
      expect(await page.textContent('#status')).toMatch(/^Could not classify tiny\.gif: unsupported image format GIF/);
      expect(await page.$$eval('.bar-row', (rows) => rows.length)).toBe(0);
      expect(await page.isVisible('#preview')).toBe(false);
      expect(await page.isVisible('#latency')).toBe(false);
      expect(await brokenImages(page)).toBe(0);
      await page.screenshot({ path: join(tmpdir(), 'xception-page-refused.png'), fullPage: true });

      // Bytes no browser can draw: no broken-image icon while the server answers, nor after.
      await page.setInputFiles('#file-input', {
        name: 'broken.png',
        mimeType: 'image/png',
        buffer: (await png(80, 60)).subarray(0, 60),
      });
      await page.waitForSelector('#status:not([hidden])');
      expect(await page.textContent('#status')).toMatch(/^Could not classify broken\.png: /);
      expect(await brokenImages(page)).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('un-marks the sample picked before once a file is chosen, and keeps no file name in the input', async () => {
    const { page, problems } = await openPage();
    try {
      await page.click('.sample >> nth=0');
      await fiveBars(page);
      expect(await page.$$eval('.sample[aria-pressed="true"].chosen', (s) => s.length)).toBe(1);
      await page.setInputFiles('#file-input', {
        name: 'mine.png',
        mimeType: 'image/png',
        buffer: await png(200, 150, 4),
      });
      await page.waitForFunction(
        () =>
          document.querySelector('#preview-caption')?.textContent === 'mine.png' &&
          document.querySelectorAll('.bar-row').length === 5 &&
          !document.querySelector('#result[aria-busy]'),
      );
      expect(await page.$$eval('.sample.chosen, .sample[aria-pressed="true"]', (s) => s.length)).toBe(0);
      expect(await page.$eval('#file-input', (input) => (input as HTMLInputElement).value)).toBe('');
      // Picking a sample afterwards shows its name alone: nothing on the page still says mine.png.
      await page.click('.sample >> nth=1');
      await page.waitForFunction(() => !document.body.textContent.includes('mine.png'));
      await fiveBars(page);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('shows sample names whole, and the footer apart from the cards', async () => {
    const { page } = await openPage();
    try {
      const captions = await page.$$eval('.sample span', (spans) =>
        spans.map((span) => ({
          text: span.textContent,
          fits: span.scrollWidth <= span.clientWidth,
        })),
      );
      const names = (await server.ready).metadata().sampleFiles.map((name) => name.replace(/\.[^.]+$/, ''));
      expect(captions).toEqual(names.map((text) => ({ text, fits: true })));
      const gap = await page.evaluate(() => {
        const footer = document.querySelector('footer')!.getBoundingClientRect();
        const cards = [...document.querySelectorAll('.panel')].map((panel) => panel.getBoundingClientRect().bottom);
        return footer.top - Math.max(...cards);
      });
      expect(gap).toBeGreaterThanOrEqual(16);
    } finally {
      await page.close();
    }
  });

  it('lights the drop zone up while a file is dragged over it, and classifies the dropped file', async () => {
    const { page, problems } = await openPage();
    try {
      const transfer = await transferOf(page, 'dropped.png', await png(240, 180, 6));
      await page.dispatchEvent('#drop-zone', 'dragenter', { dataTransfer: transfer });
      await page.dispatchEvent('#drop-zone', 'dragover', { dataTransfer: transfer });
      expect(await page.$eval('#drop-zone', (zone) => zone.classList.contains('over'))).toBe(true);
      await page.screenshot({ path: join(tmpdir(), 'xception-page-dragging.png') });
      await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: transfer });
      await fiveBars(page);
      expect(await page.$eval('#drop-zone', (zone) => zone.classList.contains('over'))).toBe(false);
      expect(await page.textContent('#preview-caption')).toBe('dropped.png');
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('classifies an image pasted from the clipboard', async () => {
    const { page, problems } = await openPage();
    try {
      const transfer = await transferOf(page, 'image.png', await png(240, 180, 8));
      await page.evaluate((clipboardData) => {
        document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData, bubbles: true, cancelable: true }));
      }, transfer);
      await fiveBars(page);
      expect(await page.textContent('#preview-caption')).toBe('pasted image');
      // A paste without an image says so.
      await page.evaluate(() => {
        const clipboardData = new DataTransfer();
        clipboardData.setData('text/plain', 'not an image');
        document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData, bubbles: true, cancelable: true }));
      });
      expect(await page.textContent('#status')).toMatch(/clipboard holds no image/);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('works from the keyboard: Tab to the button, Enter opens the file chooser; Enter on a sample classifies it', async () => {
    const { page, problems } = await openPage();
    try {
      for (
        let presses = 0;
        presses < 20 && (await page.evaluate(() => document.activeElement?.id)) !== 'choose-file';
        presses++
      ) {
        await page.keyboard.press('Tab');
      }
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('choose-file');
      expect(await page.$eval('#choose-file', (button) => getComputedStyle(button).outlineStyle)).not.toBe('none');
      // Enter on the button must open the file input. Headless Chromium does not always raise its native chooser for a
      // keyboard activation after a long run, so the test watches the input's click and then sets the file on it.
      await page.evaluate(() => {
        const input = document.querySelector('input[type=file]')!;
        input.addEventListener(
          'click',
          (event) => {
            event.preventDefault();
            input.setAttribute('data-opened', 'true');
          },
          { once: true },
        );
      });
      await page.keyboard.press('Enter');
      await page.waitForSelector('input[type=file][data-opened="true"]', { state: 'attached' });
      await page.setInputFiles('input[type=file]', {
        name: 'typed.png',
        mimeType: 'image/png',
        buffer: await png(160, 160, 2),
      });
      await fiveBars(page);
      expect(await page.textContent('#preview-caption')).toBe('typed.png');

      await page.keyboard.press('Tab'); // on to the first sample
      expect(await page.evaluate(() => document.activeElement?.classList.contains('sample'))).toBe(true);
      await page.keyboard.press('Enter');
      await page.waitForSelector('.sample.chosen');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-pressed'))).toBe('true');
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("gives each prediction its latency: the round trip and the server's share", async () => {
    const { page } = await openPage();
    try {
      await page.click('.sample >> nth=2');
      await fiveBars(page);
      const duration = /^(\d+ ms|\d+\.\d\d s)$/;
      expect(await page.isVisible('#latency')).toBe(true);
      expect(await page.textContent('#latency-total')).toMatch(duration);
      expect(await page.textContent('#latency-server')).toMatch(duration);
      expect(await page.textContent('#latency')).toMatch(/round trip.*on the server/s);
    } finally {
      await page.close();
    }
  });
});

describe('the web page when the API needs a token', () => {
  it('asks for the token, then loads and classifies with it', async () => {
    const guarded = await startTestServer(['--threads', '2', '--http-port', '0', '--auth-tokens', 'page-token']);
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${guarded.httpPort}/`);
      await page.waitForSelector('#token-form:not([hidden])');
      await page.fill('#token', 'page-token');
      await page.click('#token-form button');
      await page.waitForSelector('body[data-ready="true"]');
      // Sample thumbnails come through fetch with the token, so they load too.
      await page.waitForFunction(() =>
        [...document.querySelectorAll<HTMLImageElement>('.sample img')].every(
          (img) => img.complete && img.naturalWidth > 0,
        ),
      );
      await page.setInputFiles('#file-input', {
        name: 'generated.png',
        mimeType: 'image/png',
        buffer: await png(200, 200, 9),
      });
      await page.waitForFunction(() => document.querySelectorAll('.bar-row').length === 5);
    } finally {
      await page.close();
      await guarded.shutdown(1000);
    }
  });
});
