import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './helpers/server.ts';

// Swagger UI, driven in Debian's chromium as a person would: open /docs, Try it out, Execute.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) {
  console.warn(`\n[browser test SKIPPED] no chromium at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH\n`);
}

describe.skipIf(!available)('Swagger UI in a real browser', () => {
  let server: RunningServer;
  let browser: import('playwright-core').Browser;

  beforeAll(async () => {
    server = await startServer();
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('Try it out → Execute on relu with its example returns 200 with an out', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/docs`);
    const op = page.locator('#operations-layers-post_v1_layers_relu');
    await op.locator('.opblock-summary').click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    await op.getByRole('button', { name: 'Execute' }).click();
    const live = op.locator('.live-responses-table');
    await expect.poll(async () => (await live.locator('tr.response .response-col_status').first().textContent())?.trim(), { timeout: 15_000 }).toBe('200');
    const body = await live.locator('tr.response .response-col_description pre').first().textContent();
    expect(JSON.parse(body ?? '{}')).toHaveProperty('out');
  }, 60_000);

  it('Try it out → Execute on the network step with its two-layer example returns the loss, grads and adam\'s next state', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/docs`);
    const op = page.locator('#operations-networks-post_v1_networks_step');
    await op.locator('.opblock-summary').click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    await op.getByRole('button', { name: 'Execute' }).click();
    const live = op.locator('.live-responses-table');
    await expect.poll(async () => (await live.locator('tr.response .response-col_status').first().textContent())?.trim(), { timeout: 15_000 }).toBe('200');
    const body = JSON.parse((await live.locator('tr.response .response-col_description pre').first().textContent()) ?? '{}');
    expect(Object.keys(body.grads)).toEqual(['W1', 'b1', 'W2', 'b2']);
    expect(body.updateState.W1.t).toBe(1);
  }, 60_000);
});
