/**
 * The web page end to end in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core): it loads the
 * model's metadata, warns about random weights, classifies an uploaded PNG and a sample, and shows five bars.
 * Run with `npm run test:e2e`; a screenshot of the result is written to the temp folder for a human to look at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
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
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
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
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, problems };
}

async function bars(page: Page): Promise<{ label: string; value: string; width: number }[]> {
  return page.$$eval('.bar-row', (rows) => rows.map((row) => ({
    label: row.querySelector('.bar-label')!.textContent ?? '',
    value: row.querySelector('.bar-value')!.textContent ?? '',
    width: (row.querySelector('.bar') as HTMLElement).getBoundingClientRect().width,
  })));
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
      await page.setInputFiles('#file-input', { name: 'generated.png', mimeType: 'image/png', buffer: await png(320, 240, 3) });
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

  it('shows the server\'s refusal of a GIF instead of bars', async () => {
    const { page } = await openPage();
    try {
      const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
      await page.setInputFiles('#file-input', { name: 'tiny.gif', mimeType: 'image/gif', buffer: gif });
      await page.waitForSelector('#status:not([hidden])');
      expect(await page.textContent('#status')).toMatch(/unsupported image format GIF/);
      expect(await page.$$eval('.bar-row', (rows) => rows.length)).toBe(0);
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
      await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.sample img')].every((img) => img.complete && img.naturalWidth > 0));
      await page.setInputFiles('#file-input', { name: 'generated.png', mimeType: 'image/png', buffer: await png(200, 200, 9) });
      await page.waitForFunction(() => document.querySelectorAll('.bar-row').length === 5);
    } finally {
      await page.close();
      await guarded.shutdown(1000);
    }
  });
});
