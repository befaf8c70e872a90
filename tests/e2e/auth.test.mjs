// Browser tests of the chat page against a server with access tokens: the
// sign-in panel, the token on every request, downloads with the token,
// signing out, the account manager's row scope and the 401/403/429 messages.
// A second server with a limit of a few requests per minute covers the 429.
// Only the test named 'expired token during question keeps it' replaces a
// server response (with the server's own 401 body).
//
// Run: cd tests/e2e && npm ci && node --test
// Env: as chat.test.mjs (WENSHU_BIN, CARGO_TARGET_DIR, WENSHU_WEB_DIR, CHROMIUM_PATH).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { askQuestion, chatAnswerOf, launchBrowser, startServer } from './wenshu-server.mjs';

const ANSWER_TIMEOUT_MS = 30_000;
// An account manager of the demo warehouse (data/demo.duckdb, generated with
// seed 42), with a share in 126 accounts of bridge_account_manager.
const MANAGER_ID = 'M0101';
const UNAUTHORIZED_MESSAGE = '令牌无效或已过期，请重新登录。';
const TOTAL_QUESTION = '存款余额是多少';
const CHART_QUESTION = '各支行存款余额';

const executiveToken = randomBytes(32).toString('hex');
const managerToken = randomBytes(32).toString('hex');
const scratch = mkdtempSync(join(tmpdir(), 'wenshu-e2e-auth-'));

let server;
let browser;
let page;
const requests = [];
const consoleErrors = [];
// Answer JSON by user and question, as the page received it.
const answers = new Map();
let currentUser = null;

function sha256Hex(text) {
  return createHash('sha256').update(text).digest('hex');
}

/** Writes a settings file with auth on and the two test tokens; `extra` is appended as is. */
function writeConfig(name, extra = '') {
  const path = join(scratch, name);
  writeFileSync(path, `[auth]
enabled = true

[[auth.tokens]]
user = "chen"
role = "executive"
token_sha256 = "${sha256Hex(executiveToken)}"

[[auth.tokens]]
user = "li"
role = "account_manager"
manager_id = "${MANAGER_ID}"
token_sha256 = "${sha256Hex(managerToken)}"
${extra}`);
  return path;
}

async function recordAnswer(response) {
  const recorded = await chatAnswerOf(response);
  if (recorded) answers.set(`${currentUser}:${recorded.question}`, recorded.answer);
}

async function answerFor(user, question) {
  const key = `${user}:${question}`;
  for (let waited = 0; waited < 5000; waited += 50) {
    if (answers.has(key)) return answers.get(key);
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error(`the page received no answer JSON for ${key}`);
}

/** Asks a question on the page and returns its answer card. */
function ask(question) {
  return askQuestion(page, question, ANSWER_TIMEOUT_MS);
}

/** Signs in through the panel and waits for the empty screen or the conversation. */
async function signIn(token, user) {
  currentUser = user;
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('sign-in-button').click();
  await page.getByTestId('sign-in').waitFor({ state: 'hidden' });
}

function storedItem(key) {
  return page.evaluate((name) => localStorage.getItem(name), key);
}

before(async () => {
  try {
    browser = await launchBrowser();
  } catch (error) {
    console.error(`\n*** ${error.message}\n`);
    throw error;
  }
  server = await startServer({ extraArgs: ['--config', writeConfig('wenshu.toml')] });
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, acceptDownloads: true, locale: 'zh-CN' });
  page = await context.newPage();
  page.on('request', (request) => {
    // allHeaders() is asynchronous, so each entry stores the promise of its header.
    requests.push({
      url: request.url(),
      method: request.method(),
      authorization: request.allHeaders().then((headers) => headers.authorization || null),
    });
  });
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
  rmSync(scratch, { recursive: true, force: true });
});

test('health reports auth on', async () => {
  const health = await (await fetch(`${server.origin}/api/health`)).json();
  assert.equal(health.auth, true);
  const rejected = await fetch(`${server.origin}/api/examples?lang=zh`);
  assert.equal(rejected.status, 401);
  assert.equal(rejected.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await rejected.json()).error.code, 'unauthorized');
});

test('sign-in panel replaces examples', async () => {
  await page.getByTestId('sign-in').waitFor();
  assert.equal(await page.getByTestId('token-input').getAttribute('type'), 'password');
  assert.equal((await page.getByTestId('sign-in-button').textContent()).trim(), '登录');
  assert.match(await page.getByTestId('sign-in').textContent(), /令牌登录/);
  assert.match(await page.getByTestId('sign-in').textContent(), /管理员/);
  assert.ok(await page.getByTestId('empty-state').isHidden());
  assert.ok(await page.getByTestId('sign-out').isHidden());
  const examplesRequests = requests.filter((request) => new URL(request.url).pathname === '/api/examples');
  assert.deepEqual(examplesRequests, [], 'the signed-out page asked for examples without a token');
});

test('wrong token shows error', async () => {
  await page.getByTestId('token-input').fill('not-a-valid-token');
  await page.getByTestId('token-input').press('Enter');
  await page.getByTestId('sign-in-message').getByText(UNAUTHORIZED_MESSAGE).waitFor();
  assert.ok(await page.getByTestId('sign-in').isVisible());
  assert.equal(await storedItem('wenshu.token'), null);
});

test('executive token signs in', async () => {
  await signIn(executiveToken, 'chen');
  await page.getByTestId('examples').locator('button').first().waitFor();
  assert.ok(await page.getByTestId('sign-out').isVisible());
  assert.equal((await page.getByTestId('sign-out').textContent()).trim(), '退出');
  assert.equal(await storedItem('wenshu.token'), executiveToken);
  assert.equal(await page.getByTestId('sign-in-message').textContent(), '');
});

test('metric answer shows chart', async () => {
  const card = await ask(CHART_QUESTION);
  const answer = await answerFor('chen', CHART_QUESTION);
  assert.equal(await card.getAttribute('data-kind'), 'metric');
  await card.getByTestId('chart').locator('canvas').first().waitFor();
  assert.equal(await card.getByTestId('answer-table').locator('tbody tr').count(), answer.rows.length);
});

test('CSV download sends token', async () => {
  const card = page.getByTestId('answer').last();
  const answer = await answerFor('chen', CHART_QUESTION);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    card.getByTestId('download-csv').click(),
  ]);
  assert.match(download.suggestedFilename(), /^wenshu-[0-9a-f]+\.csv$/);
  const text = (await readFile(await download.path(), 'utf8')).replace(/^\uFEFF/, '');
  const lines = text.split(/\r?\n/).filter((line) => line !== '');
  assert.equal(lines.length, answer.rows.length + 1);
  assert.equal(lines[0], answer.columns.map((column) => column.label).join(','));

  const fileRequests = requests.filter((request) => request.url.endsWith(`/api/answers/${answer.answer_id}/table.csv`));
  assert.equal(fileRequests.length, 1);
  assert.equal(await fileRequests[0].authorization, `Bearer ${executiveToken}`);
  assert.equal(await card.locator('.download-status').textContent(), '');
});

test('reload keeps sign-in', async () => {
  const countBefore = await page.getByTestId('answer').count();
  await page.reload();
  await page.getByTestId('answer').nth(countBefore - 1).waitFor();
  assert.equal(await page.getByTestId('answer').count(), countBefore);
  assert.ok(await page.getByTestId('sign-in').isHidden());
  assert.ok(await page.getByTestId('sign-out').isVisible());
  await page.getByTestId('answer').first().getByTestId('chart').locator('canvas').first().waitFor();
});

test('executive total deposits answer', async () => {
  const card = await ask(TOTAL_QUESTION);
  const answer = await answerFor('chen', TOTAL_QUESTION);
  assert.equal(answer.kind, 'metric');
  assert.equal(typeof answer.headline.raw, 'number');
  assert.equal(await card.getByTestId('headline').locator('.headline-value').textContent(), answer.headline.value);
});

test('sign out clears token and conversation', async () => {
  assert.ok(await storedItem('wenshu.session'));
  await page.getByTestId('sign-out').click();
  await page.getByTestId('sign-in').waitFor();
  assert.equal(await page.getByTestId('answer').count(), 0);
  for (const key of ['wenshu.token', 'wenshu.session', 'wenshu.turns', 'wenshu.owner']) {
    assert.equal(await storedItem(key), null, `${key} is still stored`);
  }
  assert.ok(await page.getByTestId('sign-out').isHidden());
  await page.reload();
  await page.getByTestId('sign-in').waitFor();
  assert.equal(await page.getByTestId('answer').count(), 0);
});

test('account manager sees smaller deposits', async () => {
  await signIn(managerToken, 'li');
  assert.equal(await page.getByTestId('answer').count(), 0, 'the executive conversation is shown to the next user');
  const card = await ask(TOTAL_QUESTION);
  const executive = await answerFor('chen', TOTAL_QUESTION);
  const manager = await answerFor('li', TOTAL_QUESTION);
  assert.equal(manager.kind, 'metric');
  assert.ok(manager.headline.raw > 0, `the account manager's deposits are ${manager.headline.raw}`);
  assert.ok(manager.headline.raw < executive.headline.raw,
    `account manager ${manager.headline.raw} is not below executive ${executive.headline.raw}`);
  assert.equal(await card.getByTestId('headline').locator('.headline-value').textContent(), manager.headline.value);
});

test('other user session shows forbidden', async () => {
  const executiveSession = (await answerFor('chen', TOTAL_QUESTION)).session_id;
  const ownSession = await storedItem('wenshu.session');
  await page.evaluate((session) => localStorage.setItem('wenshu.session', session), executiveSession);
  await page.reload();
  await page.getByTestId('answer').first().waitFor();
  const card = await ask('那上个月呢？');
  assert.equal(await card.getAttribute('data-kind'), 'error');
  const text = await card.textContent();
  assert.match(text, /没有权限：这个会话属于其他用户，请开始新对话/);
  assert.doesNotMatch(text, /forbidden/);
  await page.evaluate((session) => localStorage.setItem('wenshu.session', session), ownSession);
  await page.reload();
  await page.getByTestId('answer').first().waitFor();
});

test('expired token during question keeps it', async () => {
  const rejected = await fetch(`${server.origin}/api/chat/stream`, { method: 'POST' });
  const unauthorizedBody = await rejected.text();
  assert.equal(rejected.status, 401);
  await page.route('**/api/chat/stream', (route) => route.fulfill({
    status: 401,
    contentType: 'application/json',
    headers: { 'WWW-Authenticate': 'Bearer' },
    body: unauthorizedBody,
  }));
  const countBefore = await page.getByTestId('answer').count();
  try {
    await page.getByTestId('question-input').fill('各开户渠道存款占比');
    await page.getByTestId('question-input').press('Enter');
    await page.getByTestId('sign-in-message').getByText(UNAUTHORIZED_MESSAGE).waitFor();
  } finally {
    await page.unroute('**/api/chat/stream');
  }
  assert.equal(await page.getByTestId('question-input').inputValue(), '各开户渠道存款占比');
  assert.equal(await storedItem('wenshu.token'), null);
  assert.ok(await page.getByTestId('sign-out').isHidden());

  // The same token brings the conversation back, and the kept question can be sent.
  await signIn(managerToken, 'li');
  assert.equal(await page.getByTestId('answer').count(), countBefore);
  const card = await ask(await page.getByTestId('question-input').inputValue());
  assert.equal(await card.getAttribute('data-kind'), 'metric');
});

test('English toggle labels sign-in', async () => {
  await page.getByTestId('sign-out').click();
  await page.getByTestId('language-toggle').click();
  assert.equal((await page.getByTestId('sign-in-button').textContent()).trim(), 'Sign in');
  await page.getByTestId('token-input').fill('not-a-valid-token');
  await page.getByTestId('sign-in-button').click();
  await page.getByTestId('sign-in-message').getByText('The token is invalid or has expired. Sign in again.').waitFor();
  await page.getByTestId('language-toggle').click();
  assert.equal(await page.getByTestId('sign-in-message').textContent(), UNAUTHORIZED_MESSAGE);
});

test('rate limit shows retry seconds', async () => {
  // Two requests a minute: the sign-in's examples and one question, so the second question gets a 429.
  const limited = await startServer({ extraArgs: ['--config', writeConfig('limited.toml', '\n[limits]\nrequests_per_minute = 2\n')] });
  const limitedPage = await page.context().newPage();
  const limitedErrors = [];
  limitedPage.on('console', (message) => {
    if (message.type() === 'error') limitedErrors.push(message.text());
  });
  try {
    await limitedPage.goto(`${limited.origin}/`);
    await limitedPage.getByTestId('token-input').fill(executiveToken);
    await limitedPage.getByTestId('sign-in-button').click();
    await limitedPage.getByTestId('sign-in').waitFor({ state: 'hidden' });
    const cards = limitedPage.getByTestId('answer');
    for (const question of [TOTAL_QUESTION, CHART_QUESTION]) {
      const before = await cards.count();
      await limitedPage.getByTestId('question-input').fill(question);
      await limitedPage.getByTestId('question-input').press('Enter');
      await cards.nth(before).waitFor({ timeout: ANSWER_TIMEOUT_MS });
      await limitedPage.waitForFunction(() => !document.querySelector('.pending'), null, { timeout: ANSWER_TIMEOUT_MS });
    }
    assert.equal(await cards.nth(0).getAttribute('data-kind'), 'metric');
    assert.equal(await cards.nth(1).getAttribute('data-kind'), 'error');
    assert.match(await cards.nth(1).textContent(), /请求过于频繁，请 \d+ 秒后再试/);
    assert.ok(await cards.nth(1).getByRole('button', { name: '重新提问' }).isVisible());
    for (const message of limitedErrors) assert.match(message, /429/);
  } finally {
    await limitedPage.close();
    await limited.stop();
  }
});

test('every API request carries token', async () => {
  const unauthenticated = [];
  for (const request of requests) {
    const path = new URL(request.url).pathname;
    if (!path.startsWith('/api/') || path === '/api/health') continue;
    const authorization = await request.authorization;
    if (!authorization || !authorization.startsWith('Bearer ')) unauthenticated.push(`${request.method} ${path}`);
  }
  assert.deepEqual(unauthenticated, []);
});

test('requests stay on server origin', () => {
  assert.ok(requests.length > 0);
  const foreign = requests.map((request) => request.url).filter((url) => new URL(url).origin !== server.origin);
  assert.deepEqual(foreign, []);
});

test('page logs no unexpected console errors', () => {
  // Chromium logs "Failed to load resource ... 401" for each refused token,
  // and one 403 for the other user's session, which the tests cause.
  const unexpected = consoleErrors.filter((message) => !/status of (401|403)/.test(message));
  assert.deepEqual(unexpected, []);
});
