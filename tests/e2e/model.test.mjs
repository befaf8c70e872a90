// Browser tests of the chat page with a language model: a mock
// OpenAI-compatible endpoint on loopback (Node's http module) with scripted
// replies, and a Wenshu server in hybrid mode with an analyst token.
// Covers the FAQ answer the model words from the cited entries (streamed,
// then shown above the entry's own text), a wording the server rejects
// (only the entry is shown), and an analyst's model-written SQL answer.
//
// Run: cd tests/e2e && npm ci && node --test
// Env: as chat.test.mjs (WENSHU_BIN, CARGO_TARGET_DIR, WENSHU_WEB_DIR, CHROMIUM_PATH).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { askQuestion, launchBrowser, startServer } from './wenshu-server.mjs';

const ANSWER_TIMEOUT_MS = 30_000;
const FAQ_QUESTION = '手机银行转账限额怎么调？';
const SQL_QUESTION = '贷款余额和客户经理人数按支行看看';

const analystToken = randomBytes(32).toString('hex');
const scratch = mkdtempSync(join(tmpdir(), 'wenshu-e2e-model-'));

// Replies of the mock endpoint, taken in order; each is a function of the
// request's JSON that returns the reply text.
const replies = [];
const modelRequests = [];
let model;
let server;
let browser;
let page;

/** Returns the first knowledge-base entry id in the system prompt of a wording request. */
function firstEntryId(request) {
  const system = request.messages[0].content;
  const entries = system.split('知识库条目：')[1] || '';
  return (entries.match(/\[([a-z0-9-]+)\]/) || [])[1] || 'none';
}

function startModel() {
  const mock = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      const parsed = JSON.parse(body || '{}');
      modelRequests.push(parsed);
      const reply = replies.shift();
      const text = reply ? reply(parsed) : '{}';
      if (parsed.stream) {
        response.writeHead(200, { 'Content-Type': 'text/event-stream' });
        for (let start = 0; start < text.length; start += 5) {
          const chunk = {
            id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 0, model: 'mock',
            choices: [{ index: 0, delta: { content: text.slice(start, start + 5) }, finish_reason: null }],
          };
          response.write(`data: ${JSON.stringify(chunk)}\n\n`);
        }
        response.end('data: [DONE]\n\n');
        return;
      }
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({
        id: 'chatcmpl-mock', object: 'chat.completion', created: 0, model: 'mock',
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }));
    });
  });
  return new Promise((resolve) => {
    mock.listen(0, '127.0.0.1', () => resolve(mock));
  });
}

/** Asks a question on the page and returns its answer card. */
function ask(question) {
  return askQuestion(page, question, ANSWER_TIMEOUT_MS);
}

before(async () => {
  browser = await launchBrowser();
  model = await startModel();
  const config = join(scratch, 'wenshu.toml');
  const hash = createHash('sha256').update(analystToken).digest('hex');
  writeFileSync(config, `[auth]
enabled = true

[[auth.tokens]]
user = "zhao"
role = "analyst"
token_sha256 = "${hash}"
`);
  server = await startServer({
    extraArgs: [
      '--config', config,
      '--llm-mode', 'hybrid',
      '--llm-base-url', `http://127.0.0.1:${model.address().port}/v1`,
      '--llm-model', 'mock',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN' });
  page = await context.newPage();
  await page.goto(server.origin);
  await page.getByTestId('token-input').fill(analystToken);
  await page.getByTestId('sign-in-button').click();
  await page.getByTestId('sign-in').waitFor({ state: 'hidden' });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  model?.close();
  rmSync(scratch, { recursive: true, force: true });
});

test('faq answer worded by the model', async () => {
  replies.push((request) => `可以在手机银行里自助调整 [${firstEntryId(request)}]。调整后按新的限额转账 [${firstEntryId(request)}]。`);

  const card = await ask(FAQ_QUESTION);

  const phrased = card.getByTestId('phrased');
  await phrased.waitFor();
  const text = await phrased.textContent();
  assert.match(text, /自助调整/);
  assert.match(text, /依据条目：lim-/, text);
  assert.equal(await card.getByTestId('phrased-text').count(), 1);
  assert.equal(await card.getByTestId('faq-answer').count(), 1, 'the entry text stays under the wording');
  const wording = modelRequests.at(-1);
  assert.equal(wording.stream, true);
  assert.equal(wording.model, 'mock');
});

test('rejected wording leaves the entry only', async () => {
  replies.push(() => '请拨打 95599 由客服帮您调整。');

  const card = await ask(FAQ_QUESTION);

  assert.equal(await card.getByTestId('phrased').count(), 0);
  assert.equal(await card.getByTestId('faq-answer').count(), 1);
  assert.match(await card.getByTestId('phrasing-rejected').textContent(), /未通过核对/);
});

test('analyst sql answer shows the sql', async () => {
  replies.push(() => JSON.stringify({
    sql: 'SELECT b.branch_name, COUNT(*) AS managers FROM dim_account_manager m JOIN dim_branch b ON b.branch_id = m.branch_id GROUP BY b.branch_name ORDER BY managers DESC',
    explanation: '按机构统计客户经理人数。',
  }));

  const card = await ask(SQL_QUESTION);

  assert.equal(await card.getAttribute('data-kind'), 'sql');
  assert.match(await card.textContent(), /未经指标口径核对/);
  const sql = card.locator('.sql-details');
  assert.equal(await sql.evaluate((details) => details.open), true, 'the SQL is shown');
  assert.match(await sql.textContent(), /dim_account_manager[\s\S]*LIMIT/);
  assert.ok(await card.locator('table tbody tr').count() > 1);
});
