// Saves screenshots of the real chat page to docs/images/, on a phone
// (390x844) and a desktop (1366x900) viewport: the empty screen, a metric
// answer with chart and table, a follow-up, an FAQ answer and the catalog.
//
// Run: cd tests/e2e && node screenshots.mjs
// It starts its own server like the tests do (same environment variables).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { launchBrowser, REPO_ROOT, startServer } from './wenshu-server.mjs';

const OUTPUT_DIR = join(REPO_ROOT, 'docs', 'images');
const ANSWER_TIMEOUT_MS = 30_000;
const DEVICES = [
  { name: 'phone', viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  { name: 'desktop', viewport: { width: 1366, height: 900 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false },
];

async function ask(page, question) {
  const cards = page.getByTestId('answer');
  const before = await cards.count();
  await page.getByTestId('question-input').fill(question);
  await page.getByTestId('send').click();
  await cards.nth(before).waitFor({ timeout: ANSWER_TIMEOUT_MS });
  await page.waitForFunction(() => !document.querySelector('.pending'), null, { timeout: ANSWER_TIMEOUT_MS });
  // Lets ECharts finish its 300 ms entry animation.
  await page.waitForTimeout(700);
  return cards.nth(before);
}

async function save(page, name) {
  const path = join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path });
  console.log(`saved ${path}`);
}

async function captureDevice(browser, origin, device) {
  const context = await browser.newContext({
    viewport: device.viewport,
    deviceScaleFactor: device.deviceScaleFactor,
    isMobile: device.isMobile,
    hasTouch: device.hasTouch,
    locale: 'zh-CN',
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  await page.goto(`${origin}/`);
  await page.getByTestId('examples').locator('button').first().waitFor();
  await save(page, `${device.name}-empty`);

  await ask(page, '各支行存款余额');
  await save(page, `${device.name}-metric`);

  // The page scrolls a new answer's question to the top, so 理解为 is in view.
  await ask(page, '那上个月呢？');
  await save(page, `${device.name}-follow-up`);

  await ask(page, '手机银行转账限额怎么调？');
  await save(page, `${device.name}-faq`);

  await page.getByTestId('catalog-tab').click();
  await page.getByTestId('catalog-item').first().waitFor();
  await save(page, `${device.name}-catalog`);
  await context.close();
}

async function main() {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const browser = await launchBrowser();
  let server;
  try {
    server = await startServer();
    for (const device of DEVICES) await captureDevice(browser, server.origin, device);
  } finally {
    await browser.close();
    if (server) await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
