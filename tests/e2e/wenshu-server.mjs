// Starts a Wenshu server and a headless Chromium for the browser tests and
// the screenshot script. The server binds to 127.0.0.1 only.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HEALTH_TIMEOUT_MS = 90_000;
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Returns the server binary: $WENSHU_BIN, else the release build under $CARGO_TARGET_DIR. */
export function wenshuBinary() {
  if (process.env.WENSHU_BIN) return process.env.WENSHU_BIN;
  const targetDir = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'wenshu', 'target');
  return join(targetDir, 'release', 'wenshu');
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/**
 * Starts `wenshu serve` from the repository root on a free loopback port and
 * waits until /api/health returns 200. With $WENSHU_WEB_DIR set, the page is
 * served from that folder instead of the copy built into the binary.
 * `extraArgs` go after the other arguments, such as ['--config', file].
 * Without a `--config` there, an empty settings file is passed, so that a
 * developer's own wenshu.toml in the repository root does not apply.
 * Returns {origin, stop, output}.
 */
export async function startServer({ extraArgs = [] } = {}) {
  const binary = wenshuBinary();
  if (!existsSync(binary)) {
    throw new Error(`Wenshu server binary not found at ${binary}: build it with `
      + '`cargo build --release` or set WENSHU_BIN to its path');
  }
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const scratch = mkdtempSync(join(tmpdir(), 'wenshu-e2e-'));
  const args = ['serve', '--bind', `127.0.0.1:${port}`, '--state', join(scratch, 'wenshu.sqlite')];
  if (process.env.WENSHU_WEB_DIR) args.push('--web-dir', process.env.WENSHU_WEB_DIR);
  if (!extraArgs.includes('--config')) {
    const emptyConfig = join(scratch, 'wenshu.toml');
    writeFileSync(emptyConfig, '');
    args.push('--config', emptyConfig);
  }
  args.push(...extraArgs);

  const child = spawn(binary, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  child.stdout.on('data', (chunk) => output.push(chunk.toString()));
  child.stderr.on('data', (chunk) => output.push(chunk.toString()));
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });

  async function stop() {
    if (exited === null) {
      child.kill('SIGTERM');
      for (let waited = 0; exited === null && waited < 5000; waited += 100) await sleep(100);
      if (exited === null) child.kill('SIGKILL');
    }
    rmSync(scratch, { recursive: true, force: true });
  }

  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== null) {
      await stop();
      throw new Error(`Wenshu server exited early (${JSON.stringify(exited)}):\n${output.join('')}`);
    }
    try {
      const response = await fetch(`${origin}/api/health`);
      if (response.status === 200) return { origin, stop, output };
    } catch (error) {
      // Not listening yet.
    }
    await sleep(250);
  }
  await stop();
  throw new Error(`Wenshu server did not answer GET /api/health with 200 within ${HEALTH_TIMEOUT_MS / 1000} s:\n${output.join('')}`);
}

/** Launches headless Chromium through playwright-core with a fresh profile. Throws with the fix when Chromium is missing. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\` `
      + 'or set CHROMIUM_PATH');
  }
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** Parses a text/event-stream body and returns the data of its `answer` event, or null. */
function answerFromEventStream(body) {
  for (const block of body.split(/\r?\n\r?\n/)) {
    let name = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (name === 'answer' && data.length > 0) return JSON.parse(data.join('\n'));
  }
  return null;
}

/**
 * Returns {question, answer} for a successful /api/chat or /api/chat/stream
 * response the page received, or null for any other response. Throws when an
 * event stream does not say it is UTF-8: without a charset, Chromium decodes
 * it as windows-1252.
 */
export async function chatAnswerOf(response) {
  const path = new URL(response.url()).pathname;
  if (response.request().method() !== 'POST' || (path !== '/api/chat' && path !== '/api/chat/stream')) return null;
  if (!response.ok()) return null;
  const question = JSON.parse(response.request().postData() || '{}').message;
  const contentType = response.headers()['content-type'] || '';
  const body = await response.text();
  const stream = contentType.startsWith('text/event-stream');
  if (stream && !/charset=utf-8/i.test(contentType)) {
    throw new Error(`event stream without charset=utf-8: ${contentType}`);
  }
  const answer = stream ? answerFromEventStream(body) : JSON.parse(body);
  return answer ? { question, answer } : null;
}

/** Types a question into the page, sends it with Enter and waits for its answer card; returns the card locator. */
export async function askQuestion(page, question, timeout = 30_000) {
  const cards = page.getByTestId('answer');
  const before = await cards.count();
  await page.getByTestId('question-input').fill(question);
  await page.getByTestId('question-input').press('Enter');
  await cards.nth(before).waitFor({ timeout });
  await page.waitForFunction(() => !document.querySelector('.pending'), null, { timeout });
  return cards.nth(before);
}
