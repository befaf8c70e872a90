// Browser tests of the Wenshu chat page: a real server on a free loopback
// port and the real page in headless Chromium. Only the test named
// 'stream without answer falls back' replaces a server response.
//
// Run: cd tests/e2e && npm ci && node --test
// Env: WENSHU_BIN (server binary), CARGO_TARGET_DIR, WENSHU_WEB_DIR (serve
// the page from this folder instead of the copy built into the binary),
// CHROMIUM_PATH (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import { askQuestion, chatAnswerOf, launchBrowser, startServer } from './wenshu-server.mjs';

const ANSWER_TIMEOUT_MS = 30_000;

let server;
let browser;
let context;
let page;
const requestedUrls = [];
const consoleErrors = [];
// Console errors that a test provokes on purpose (a 400 response logs one).
const expectedConsoleErrors = [];
// The answer JSON of each question, as the page received it, by question.
const answers = new Map();

/** Records the answer JSON from a /api/chat or /api/chat/stream response of the page. */
async function recordAnswer(response) {
  const recorded = await chatAnswerOf(response);
  if (recorded) answers.set(recorded.question, recorded.answer);
}

/** Returns the answer JSON the page received for `question`, waiting briefly for its response body. */
async function answerFor(question) {
  for (let waited = 0; waited < 5000; waited += 50) {
    if (answers.has(question)) return answers.get(question);
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error(`the page received no answer JSON for ${question}`);
}

/** Asks a question on the page and returns its answer card. */
function ask(question) {
  return askQuestion(page, question, ANSWER_TIMEOUT_MS);
}

function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  const source = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < source.length; i += 1) {
    const char = source[i];
    if (quoted) {
      if (char === '"' && source[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (char === '"') {
        quoted = false;
      } else {
        field += char;
      }
    } else if (char === '"') {
      quoted = true;
    } else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && source[i + 1] === '\n') i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += char;
    }
  }
  if (field || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function assertCellEqual(actual, expected, where) {
  if (typeof expected === 'number') {
    assert.ok(Math.abs(Number(actual) - expected) < 1e-6, `${where}: CSV has ${actual}, the answer has ${expected}`);
  } else {
    assert.equal(actual, expected === null ? '' : String(expected), where);
  }
}

before(async () => {
  try {
    browser = await launchBrowser();
  } catch (error) {
    console.error(`\n*** ${error.message}\n`);
    throw error;
  }
  server = await startServer();
  context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    acceptDownloads: true,
    locale: 'zh-CN',
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.origin });
  page = await context.newPage();
  page.on('request', (request) => requestedUrls.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  page.on('response', (response) => {
    recordAnswer(response).catch((error) => consoleErrors.push(`test could not read a response: ${error.message}`));
  });
  await page.goto(`${server.origin}/`);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('empty screen shows server examples', async () => {
  const body = await (await fetch(`${server.origin}/api/examples?lang=zh`)).json();
  const chips = page.getByTestId('examples').locator('button');
  await chips.first().waitFor();
  assert.deepEqual(await chips.allTextContents(), body.examples);
  assert.ok(await page.getByTestId('faq-examples').getByText('手机银行转账限额怎么调？').isVisible());
});

test('metric answer shows figure, chart and table', async () => {
  await page.evaluate(() => {
    // Records every stage label the pending answer shows while it streams.
    window.seenStages = [];
    new MutationObserver(() => {
      for (const line of document.querySelectorAll('[data-testid="stage"] [data-stage]')) {
        if (!window.seenStages.includes(line.dataset.stage)) window.seenStages.push(line.dataset.stage);
      }
    }).observe(document.getElementById('conversation'), { childList: true, subtree: true });
  });
  const card = await ask('各支行存款余额');
  const answer = await answerFor('各支行存款余额');
  assert.equal(answer.kind, 'metric');
  assert.equal(await card.getAttribute('data-kind'), 'metric');

  const headline = card.getByTestId('headline');
  assert.ok(await headline.isVisible());
  assert.match(await headline.textContent(), new RegExp(answer.headline.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

  await card.getByTestId('chart').locator('canvas').first().waitFor();
  const tableRows = card.getByTestId('answer-table').locator('tbody tr');
  assert.equal(await tableRows.count(), answer.rows.length);
  assert.ok(await card.getByTestId('download-csv').isVisible());
  assert.ok(await card.getByTestId('download-xlsx').isVisible());

  const stages = await page.evaluate(() => window.seenStages);
  assert.ok(stages.includes('understanding'), `stages seen: ${stages.join(', ')}`);
  assert.ok(requestedUrls.some((url) => url.endsWith('/api/chat/stream')), 'the page did not use the stream endpoint');
});

test('table sorts by clicked column', async () => {
  const card = page.getByTestId('answer').last();
  const answer = await answerFor('各支行存款余额');
  const valueHeader = card.getByTestId('answer-table').locator('thead button').nth(1);
  await valueHeader.click();
  const maximum = Math.max(...answer.rows.map((row) => row[1]));
  const firstValue = await card.getByTestId('answer-table').locator('tbody tr').first().locator('td').nth(1).textContent();
  assert.equal(Number(firstValue.replace(/,/g, '')), Number(maximum.toFixed(2)));
  assert.equal(await valueHeader.locator('xpath=..').getAttribute('aria-sort'), 'descending');
});

test('copy table puts tab-separated rows on clipboard', async () => {
  const card = page.getByTestId('answer').last();
  const answer = await answerFor('各支行存款余额');
  await card.getByTestId('copy-table').click();
  await card.getByTestId('copy-table').getByText('已复制').waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const lines = copied.split('\n');
  assert.equal(lines.length, answer.rows.length + 1);
  assert.deepEqual(lines[0].split('\t'), answer.columns.map((column) => column.label));
});

test('CSV download matches answer rows', async () => {
  const card = page.getByTestId('answer').last();
  const answer = await answerFor('各支行存款余额');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    card.getByTestId('download-csv').click(),
  ]);
  const csv = parseCsv(await readFile(await download.path(), 'utf8'));
  const [header, ...rows] = csv.filter((row) => row.some((cell) => cell !== ''));
  assert.deepEqual(header, answer.columns.map((column) => column.label));
  assert.equal(rows.length, answer.rows.length);
  rows.forEach((row, rowIndex) => {
    answer.rows[rowIndex].forEach((expected, columnIndex) => {
      assertCellEqual(row[columnIndex], expected, `row ${rowIndex + 1}, column ${columnIndex + 1}`);
    });
  });
});

test('feedback shows thanks', async () => {
  const card = page.getByTestId('answer').last();
  await card.getByTestId('feedback-up').click();
  await card.getByText('已记录，谢谢').waitFor();
});

test('follow-up shows rewritten question', async () => {
  const card = await ask('那上个月呢？');
  const answer = await answerFor('那上个月呢？');
  assert.ok(answer.rewritten, 'the server did not rewrite the follow-up');
  const rewritten = card.getByTestId('rewritten');
  assert.equal(await rewritten.textContent(), `理解为：${answer.rewritten}`);
});

test('FAQ question shows FAQ answer', async () => {
  const card = await ask('手机银行转账限额怎么调？');
  const answer = await answerFor('手机银行转账限额怎么调？');
  assert.equal(answer.kind, 'faq');
  assert.equal(await card.getAttribute('data-kind'), 'faq');
  const shown = await card.getByTestId('faq-answer').textContent();
  const firstParagraph = answer.faq.answer.split('\n')[0].replace(/\*\*/g, '');
  assert.ok(shown.includes(firstParagraph), `FAQ answer lacks its first paragraph: ${firstParagraph}`);
  assert.ok(!shown.includes('**'), 'bold markers were shown as text');
  for (const runnerUp of answer.faq.runners_up) {
    assert.ok(await card.getByRole('button', { name: runnerUp.question, exact: true }).isVisible());
  }
});

test('too long question shows error bubble', async () => {
  const errorsBefore = consoleErrors.length;
  const card = await ask('存'.repeat(2100));
  assert.equal(await card.getAttribute('data-kind'), 'error');
  assert.match(await card.textContent(), /问题过长/);
  const chatRequests = requestedUrls.filter((url) => /\/api\/chat(\/stream)?$/.test(url));
  assert.ok(chatRequests.at(-1).endsWith('/api/chat/stream'), 'a rejected question was retried without streaming');
  // Chromium logs "Failed to load resource ... 400" for the rejected request.
  expectedConsoleErrors.push(...consoleErrors.splice(errorsBefore));
});

test('conversation persists across reload', async () => {
  const countBefore = await page.getByTestId('answer').count();
  const sessionBefore = await page.evaluate(() => localStorage.getItem('wenshu.session'));
  assert.ok(sessionBefore, 'no session id stored');
  await page.reload();
  await page.getByTestId('answer').nth(countBefore - 1).waitFor();
  assert.equal(await page.getByTestId('answer').count(), countBefore);
  assert.equal(await page.evaluate(() => localStorage.getItem('wenshu.session')), sessionBefore);
  await page.getByTestId('answer').first().getByTestId('chart').locator('canvas').first().waitFor();
});

test('English toggle switches UI strings', async () => {
  await page.getByTestId('language-toggle').click();
  assert.equal((await page.getByTestId('send').textContent()).trim(), 'Send');
  assert.equal((await page.getByTestId('catalog-tab').textContent()).trim(), 'Metric catalog');
  assert.match(await page.getByTestId('new-conversation').textContent(), /New chat/);
  assert.match(await page.getByTestId('question-input').getAttribute('placeholder'), /Ask about a metric/);
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  assert.match(await page.getByTestId('rewritten').first().textContent(), /^Understood as: /);

  await page.reload();
  await page.getByTestId('send').getByText('Send').waitFor();
  await page.getByTestId('language-toggle').click();
  assert.equal((await page.getByTestId('send').textContent()).trim(), '发送');
  assert.equal((await page.getByTestId('catalog-tab').textContent()).trim(), '指标目录');
});

test('catalog lists and filters metrics', async () => {
  const catalog = await (await fetch(`${server.origin}/api/metrics`)).json();
  await page.getByTestId('catalog-tab').click();
  const items = page.getByTestId('catalog-item');
  await items.first().waitFor();
  assert.equal(await items.count(), catalog.metrics.length);

  const query = '占比';
  const expected = catalog.metrics.filter((metric) => [metric.label, metric.name, metric.description, ...metric.synonyms]
    .join('\n').toLowerCase().includes(query));
  assert.ok(expected.length > 0, `no metric matches ${query}`);
  assert.ok(expected.length < catalog.metrics.length, `every metric matches ${query}`);
  await page.getByTestId('catalog-search').fill(query);
  assert.equal(await items.count(), expected.length);
  assert.deepEqual(await items.evaluateAll((nodes) => nodes.map((node) => node.dataset.metric)),
    expected.map((metric) => metric.name));

  await items.first().click();
  assert.ok(await page.getByTestId('question-input').isVisible());
  assert.ok((await page.getByTestId('question-input').inputValue()).includes(expected[0].label));
  assert.ok(await page.locator('#catalog-view').isHidden());
});

test('expired answer download shows message', async () => {
  const errorsBefore = consoleErrors.length;
  await page.evaluate(() => {
    const turns = JSON.parse(localStorage.getItem('wenshu.turns'));
    turns.find((turn) => turn.answer && turn.answer.answer_id).answer.answer_id = 'expired-answer';
    localStorage.setItem('wenshu.turns', JSON.stringify(turns));
  });
  await page.reload();
  const card = page.getByTestId('answer').first();
  await card.getByTestId('download-csv').click();
  await card.getByText('这个结果已不在服务器上，请重新提问后再下载。').waitFor();
  // Chromium logs "Failed to load resource ... 404" for the HEAD check.
  expectedConsoleErrors.push(...consoleErrors.splice(errorsBefore));
});

test('new conversation clears everything', async () => {
  await page.getByTestId('new-conversation').click();
  assert.equal(await page.getByTestId('answer').count(), 0);
  assert.equal(await page.evaluate(() => localStorage.getItem('wenshu.turns')), null);
  assert.equal(await page.evaluate(() => localStorage.getItem('wenshu.session')), null);
  assert.ok(await page.getByTestId('examples').isVisible());
});

test('stream without answer falls back', async () => {
  // The stream ends after one stage without an answer event, so the page must ask /api/chat.
  await page.route('**/api/chat/stream', (route) => route.fulfill({
    status: 200,
    contentType: 'text/event-stream; charset=utf-8',
    body: 'event: stage\ndata: {"stage":"understanding","label":"理解问题"}\n\n',
  }));
  const plainRequests = () => requestedUrls.filter((url) => new URL(url).pathname === '/api/chat').length;
  const plainBefore = plainRequests();
  try {
    const card = await ask('各开户渠道存款占比');
    assert.equal(await card.getAttribute('data-kind'), 'metric');
    await card.getByTestId('chart').locator('canvas').first().waitFor();
    assert.equal(plainRequests(), plainBefore + 1, 'the page did not fall back to /api/chat');
  } finally {
    await page.unroute('**/api/chat/stream');
  }
});

test('requests stay on server origin', () => {
  assert.ok(requestedUrls.length > 0);
  const foreign = requestedUrls.filter((url) => new URL(url).origin !== server.origin);
  assert.deepEqual(foreign, []);
});

test('page logs no console errors', () => {
  assert.deepEqual(consoleErrors, []);
  for (const message of expectedConsoleErrors) assert.match(message, /40[04]/);
});
