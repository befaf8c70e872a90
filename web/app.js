// Chat page of Wenshu (问数): sends questions to the Wenshu server, renders
// its answers (figures, charts, tables, FAQ entries) and the metric catalog.
// Every string from the server is rendered with textContent, never as HTML.
'use strict';

(function () {
  const { t } = window.WenshuI18n;

  // ---------------------------------------------------------------------------
  // Constants and page elements

  const SESSION_KEY = 'wenshu.session';
  const TURNS_KEY = 'wenshu.turns';
  // The access token that the server requires when its auth is enabled.
  const TOKEN_KEY = 'wenshu.token';
  // The SHA-256 hex of the token that started the stored conversation, so
  // signing in with another token does not show someone else's conversation.
  const OWNER_KEY = 'wenshu.owner';
  // How long a downloaded file's object URL stays valid after its click, so
  // the browser can finish reading the blob before it is revoked.
  const DOWNLOAD_URL_LIFETIME_MS = 60000;
  // Error codes of a streamed `error` event that reject the question itself,
  // with their HTTP status. Other codes make the page retry with /api/chat.
  const REJECTING_STREAM_ERRORS = { unauthorized: 401, forbidden: 403, rate_limited: 429 };
  const MAX_STORED_TURNS = 30;
  // Rows rendered before the "show all rows" button, to keep long tables
  // responsive on phones. Copy and download always use every row.
  const INITIAL_TABLE_ROWS = 100;
  // A request that has not finished after this many milliseconds is aborted
  // and shown as a timeout.
  const REQUEST_TIMEOUT_MS = 120000;
  const STAGE_ORDER = ['understanding', 'compiling', 'querying', 'answering'];
  const MEASURE_TYPES = new Set(['money', 'percent', 'number']);
  const CHART_COLORS = ['#b3261e', '#2f6fb0', '#d99a2b', '#3d8f6e', '#7a5ea8', '#c2587a', '#4aa3b5', '#8a6d3b',
    '#5c6b7a', '#e07b39', '#6b8e23', '#9c3d54'];
  // Line charts with more series than this become unreadable, so the
  // remaining series are left to the table.
  const MAX_CHART_SERIES = 12;

  const BUILT_IN_EXAMPLES = {
    zh: {
      metric: ['各支行存款余额', '今年每月存款余额走势', '各开户渠道存款占比', '今年以来日均存款是多少？'],
      faq: ['手机银行转账限额怎么调？', 'U盾证书过期怎么办？', '忘记登录密码怎么办？'],
    },
    en: {
      metric: ['Deposit balance by branch', 'Monthly deposit balance this year', 'Deposit share by opening channel',
        'Average daily deposits this year'],
      faq: ['How do I raise my mobile banking transfer limit?', 'What should I do when my USB key certificate expires?',
        'I forgot my login password'],
    },
  };

  const elements = {
    scroller: document.getElementById('scroller'),
    chatView: document.getElementById('chat-view'),
    catalogView: document.getElementById('catalog-view'),
    chatTab: document.getElementById('chat-tab'),
    catalogTab: document.getElementById('catalog-tab'),
    catalogBack: document.getElementById('catalog-back'),
    catalogIntro: document.getElementById('catalog-intro'),
    catalogSearch: document.getElementById('catalog-search'),
    catalogStatus: document.getElementById('catalog-status'),
    catalogList: document.getElementById('catalog-list'),
    emptyState: document.getElementById('empty-state'),
    metricExamples: document.getElementById('metric-examples'),
    faqExamples: document.getElementById('faq-examples'),
    conversation: document.getElementById('conversation'),
    form: document.getElementById('question-form'),
    input: document.getElementById('question-input'),
    send: document.getElementById('send'),
    newConversation: document.getElementById('new-conversation'),
    languageToggle: document.getElementById('language-toggle'),
    signOut: document.getElementById('sign-out'),
    signIn: document.getElementById('sign-in'),
    signInForm: document.getElementById('sign-in-form'),
    tokenInput: document.getElementById('token-input'),
    signInButton: document.getElementById('sign-in-button'),
    signInMessage: document.getElementById('sign-in-message'),
  };

  const state = {
    sessionId: null,
    // Each turn: {question, answer?, error?, feedback?}. A turn with neither
    // answer nor error is the one being answered.
    turns: [],
    busy: false,
    // Stages received for the pending turn, in arrival order.
    pendingStages: [],
    pendingController: null,
    // Incremented by "new conversation" so a late answer to a cleared
    // conversation is dropped.
    generation: 0,
    view: 'chat',
    catalog: null,
    catalogError: null,
    // True when GET /api/health reports `auth: true` or a request got a 401.
    authRequired: false,
    token: null,
    // The sign-in panel's message as {key, params} or {text}, or null.
    signInMessage: null,
  };

  // ECharts instances of the rendered answers, disposed on every re-render.
  const charts = new Map();
  // Charts whose container had no size yet (hidden view), drawn on showView.
  let deferredCharts = [];
  const chartResizeObserver = typeof ResizeObserver === 'function'
    ? new ResizeObserver((entries) => {
      for (const entry of entries) {
        const chart = charts.get(entry.target);
        if (chart) chart.resize();
      }
    })
    : null;

  // ---------------------------------------------------------------------------
  // Storage

  function loadStoredState() {
    try {
      state.token = window.localStorage.getItem(TOKEN_KEY) || null;
      state.sessionId = window.localStorage.getItem(SESSION_KEY) || null;
      const stored = JSON.parse(window.localStorage.getItem(TURNS_KEY) || '[]');
      if (Array.isArray(stored)) {
        // A turn without answer or error was interrupted by a reload.
        state.turns = stored
          .filter((turn) => turn && typeof turn.question === 'string' && (turn.answer || turn.error))
          .slice(-MAX_STORED_TURNS);
      }
    } catch (error) {
      console.warn('wenshu: the stored conversation could not be read and is ignored', error);
      state.turns = [];
    }
  }

  function saveSession() {
    try {
      if (state.sessionId) {
        window.localStorage.setItem(SESSION_KEY, state.sessionId);
      } else {
        window.localStorage.removeItem(SESSION_KEY);
      }
    } catch (error) {
      console.warn('wenshu: the session id could not be stored', error);
    }
  }

  /** Stores the finished turns, dropping the oldest ones when storage is full. */
  function saveTurns() {
    let turns = state.turns.filter((turn) => turn.answer || turn.error).slice(-MAX_STORED_TURNS);
    while (true) {
      try {
        window.localStorage.setItem(TURNS_KEY, JSON.stringify(turns));
        return;
      } catch (error) {
        if (turns.length === 0) {
          console.warn('wenshu: the conversation could not be stored', error);
          return;
        }
        turns = turns.slice(1);
      }
    }
  }

  function clearStoredConversation() {
    try {
      window.localStorage.removeItem(SESSION_KEY);
      window.localStorage.removeItem(TURNS_KEY);
    } catch (error) {
      console.warn('wenshu: the stored conversation could not be cleared', error);
    }
  }

  function saveToken() {
    try {
      if (state.token) {
        window.localStorage.setItem(TOKEN_KEY, state.token);
      } else {
        window.localStorage.removeItem(TOKEN_KEY);
      }
    } catch (error) {
      console.warn('wenshu: the access token could not be stored, so the next page load asks for it again', error);
    }
  }

  function readStoredOwner() {
    try {
      return window.localStorage.getItem(OWNER_KEY);
    } catch (error) {
      return null;
    }
  }

  function saveOwner(fingerprint) {
    try {
      if (fingerprint) {
        window.localStorage.setItem(OWNER_KEY, fingerprint);
      } else {
        window.localStorage.removeItem(OWNER_KEY);
      }
    } catch (error) {
      console.warn('wenshu: the owner of the conversation could not be stored', error);
    }
  }

  // ---------------------------------------------------------------------------
  // Server API

  /**
   * An error response from the server, with its HTTP status, error code and,
   * for a 429, the seconds to wait from its Retry-After header.
   */
  class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message);
      this.name = 'ApiError';
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter || null;
    }
  }

  /** Returns the seconds of a Retry-After header (seconds or an HTTP date), or null. */
  function retryAfterSeconds(header) {
    if (!header) return null;
    if (/^\d+$/.test(header.trim())) return Math.max(1, Number(header.trim()));
    const date = Date.parse(header);
    if (Number.isNaN(date)) return null;
    return Math.max(1, Math.ceil((date - Date.now()) / 1000));
  }

  /** Builds an ApiError from a non-2xx response, using its JSON error body when there is one. */
  async function apiErrorFrom(response) {
    const retryAfter = response.status === 429 ? retryAfterSeconds(response.headers.get('Retry-After')) : null;
    let code = `http_${response.status}`;
    let message = '';
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || '';
      }
    } catch (error) {
      // A body that is not JSON keeps the generic message below.
    }
    return new ApiError(response.status, code, message, retryAfter);
  }

  /**
   * Fetches a server path with `Authorization: Bearer <token>` when a token
   * is stored. A 401 response signs the page out (see onUnauthorized) and is
   * still returned, so the caller can keep what the user was doing.
   */
  async function apiFetch(path, options) {
    const tokenUsed = state.token;
    const headers = { ...((options && options.headers) || {}) };
    if (tokenUsed) headers.Authorization = `Bearer ${tokenUsed}`;
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) onUnauthorized(tokenUsed);
    return response;
  }

  async function getJson(path) {
    const response = await apiFetch(path, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw await apiErrorFrom(response);
    return response.json();
  }

  async function postJson(path, body, signal) {
    const response = await apiFetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    if (!response.ok) throw await apiErrorFrom(response);
    return response.json();
  }

  /**
   * Parses a text/event-stream body and calls `onEvent(name, data)` for each
   * event, following the line format of the HTML server-sent events standard.
   */
  async function readEventStream(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let eventName = '';
    let dataLines = [];

    function dispatch() {
      if (dataLines.length > 0) onEvent(eventName || 'message', dataLines.join('\n'));
      eventName = '';
      dataLines = [];
    }

    function handleLine(line) {
      if (line === '') {
        dispatch();
        return;
      }
      if (line.startsWith(':')) return;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') eventName = value;
      else if (field === 'data') dataLines.push(value);
    }

    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        handleLine(buffer.slice(0, newline).replace(/\r$/, ''));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
      if (done) break;
    }
    if (buffer) handleLine(buffer.replace(/\r$/, ''));
    // A last event without its closing blank line still counts.
    dispatch();
  }

  /**
   * Asks through POST /api/chat/stream. Returns the answer, or null when the
   * stream cannot be used (so the caller falls back to /api/chat). Throws an
   * ApiError for a 4xx rejection of the question itself.
   */
  async function streamAnswer(body, onStage, signal) {
    const tokenUsed = state.token;
    let response;
    try {
      response = await apiFetch('/api/chat/stream', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (signal.aborted) throw error;
      return null;
    }

    if (!response.ok) {
      // 404 and 405 mean the stream endpoint is missing, not that the
      // question was rejected. Other 4xx responses reject the question.
      const rejected = response.status >= 400 && response.status < 500
        && response.status !== 404 && response.status !== 405;
      if (rejected) throw await apiErrorFrom(response);
      return null;
    }
    const contentType = response.headers.get('Content-Type') || '';
    if (!contentType.toLowerCase().startsWith('text/event-stream') || !response.body) return null;

    let answer = null;
    let rejection = null;
    try {
      await readEventStream(response.body, (name, data) => {
        let payload;
        try {
          payload = JSON.parse(data);
        } catch (error) {
          console.warn(`wenshu: the stream event ${name} has invalid JSON data and is ignored`);
          return;
        }
        if (name === 'stage' && payload) onStage(payload);
        else if (name === 'answer' && payload) answer = payload;
        else if (name === 'delta' && payload) onPhrasingPiece(payload.text);
        else if (name === 'phrased' && payload && answer) {
          if (payload.rejected) answer.phrasingRejected = true;
          else answer.phrased = payload;
        }
        else if (name === 'error') rejection = rejectionFromStreamError(payload);
      });
    } catch (error) {
      if (signal.aborted) throw error;
      console.warn('wenshu: reading /api/chat/stream failed; retrying with POST /api/chat', error);
      return null;
    }
    if (rejection) {
      // The server checks a conversation's owner after the stream has
      // started, so a 403 arrives as an `error` event of a 200 response.
      if (rejection.status === 401) onUnauthorized(tokenUsed);
      throw rejection;
    }
    return answer;
  }

  /**
   * Returns an ApiError for an `error` event that rejects the question (see
   * REJECTING_STREAM_ERRORS), or null after logging any other error event.
   */
  function rejectionFromStreamError(payload) {
    const error = (payload && payload.error) || {};
    const status = REJECTING_STREAM_ERRORS[error.code];
    if (status) return new ApiError(status, error.code, error.message || '');
    console.warn('wenshu: /api/chat/stream sent an error event; retrying with POST /api/chat', payload);
    return null;
  }

  /** Asks a question, streaming the stages when the server can, else with one POST /api/chat. */
  async function requestAnswer(body, onStage, signal) {
    const streamed = await streamAnswer(body, onStage, signal);
    if (streamed) return streamed;
    return postJson('/api/chat', body, signal);
  }

  // ---------------------------------------------------------------------------
  // Number and value formatting

  const groupedTwoDecimals = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const groupedInteger = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const groupedUpToTwoDecimals = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

  function isNumber(value) {
    return typeof value === 'number' && Number.isFinite(value);
  }

  /** Formats one table cell: money with thousands separators and 2 decimals, percent with %. */
  function formatCell(type, value) {
    if (value === null || value === undefined || value === '') return '—';
    if (!isNumber(value)) return String(value);
    if (type === 'money') return groupedTwoDecimals.format(value);
    if (type === 'percent') return `${value.toFixed(2)}%`;
    if (type === 'number') return Number.isInteger(value) ? groupedInteger.format(value) : groupedUpToTwoDecimals.format(value);
    return String(value);
  }

  /** Formats a cell for tab-separated copying: no thousands separators, so spreadsheets read numbers. */
  function formatCellForCopy(type, value) {
    if (value === null || value === undefined) return '';
    if (!isNumber(value)) return String(value).replace(/[\t\r\n]+/g, ' ');
    if (type === 'money') return value.toFixed(2);
    if (type === 'percent') return `${value.toFixed(2)}%`;
    return String(value);
  }

  /** Formats a headline figure the way the server writes amounts (亿元 / 万元; millions / billions in English). */
  function formatFigure(type, value) {
    if (!isNumber(value)) return String(value);
    if (type === 'money') {
      const magnitude = Math.abs(value);
      if (window.WenshuI18n.getLanguage() === 'en') {
        if (magnitude >= 1e9) return t('money.billion', { value: (value / 1e9).toFixed(2) });
        if (magnitude >= 1e6) return t('money.million', { value: (value / 1e6).toFixed(2) });
        return t('money.yuan', { value: groupedTwoDecimals.format(value) });
      }
      if (magnitude >= 1e8) return t('money.hundredMillion', { value: (value / 1e8).toFixed(2) });
      if (magnitude >= 1e4) return t('money.tenThousand', { value: (value / 1e4).toFixed(2) });
      return t('money.yuan', { value: groupedTwoDecimals.format(value) });
    }
    return formatCell(type, value);
  }

  /** Formats a chart axis tick: money in 万元 so long amounts fit on a phone. */
  function formatAxisValue(type, value) {
    if (!isNumber(value)) return String(value);
    if (type === 'money') return groupedUpToTwoDecimals.format(value / 1e4);
    if (type === 'percent') return `${value}%`;
    return groupedUpToTwoDecimals.format(value);
  }

  // ---------------------------------------------------------------------------
  // DOM helpers

  /** Creates an element with attributes and children. String children become text nodes. */
  function el(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'className') element.className = value;
      else if (name === 'text') element.textContent = value;
      else if (name === 'testid') element.dataset.testid = value;
      else if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      element.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return element;
  }

  function button(label, onClick, attributes) {
    return el('button', { type: 'button', onclick: onClick, ...attributes }, label);
  }

  /** Renders plain text with line breaks as one paragraph per non-empty line. */
  function paragraphs(text, className) {
    const container = el('div', { className });
    for (const line of String(text || '').split('\n')) {
      if (line.trim()) container.append(el('p', { text: line }));
    }
    return container;
  }

  /** Appends `text` to `parent`, turning **bold** spans into <strong>. */
  function appendInline(parent, text) {
    const parts = String(text).split(/\*\*(.+?)\*\*/g);
    parts.forEach((part, index) => {
      if (!part) return;
      parent.append(index % 2 === 1 ? el('strong', { text: part }) : document.createTextNode(part));
    });
  }

  /**
   * Renders the Markdown subset of FAQ answers: paragraphs, numbered lists,
   * "- " bullets and **bold**. Every piece of text goes through text nodes.
   */
  function renderMarkdownLite(text) {
    const container = el('div', { className: 'markdown', testid: 'faq-answer' });
    let paragraph = null;
    let list = null;

    function closeBlocks() {
      paragraph = null;
      list = null;
    }

    for (const rawLine of String(text || '').split('\n')) {
      const line = rawLine.trimEnd();
      const ordered = /^\s*(\d+)[.、)]\s+(.*)$/.exec(line);
      const bullet = /^\s*[-*•]\s+(.*)$/.exec(line);
      if (!line.trim()) {
        closeBlocks();
      } else if (ordered) {
        if (!list || list.tagName !== 'OL') {
          list = el('ol', { start: ordered[1] === '1' ? null : ordered[1] });
          container.append(list);
        }
        paragraph = null;
        const item = el('li');
        appendInline(item, ordered[2]);
        list.append(item);
      } else if (bullet) {
        if (!list || list.tagName !== 'UL') {
          list = el('ul');
          container.append(list);
        }
        paragraph = null;
        const item = el('li');
        appendInline(item, bullet[1]);
        list.append(item);
      } else {
        list = null;
        if (paragraph) {
          paragraph.append(el('br'));
        } else {
          paragraph = el('p');
          container.append(paragraph);
        }
        appendInline(paragraph, line.trim());
      }
    }
    return container;
  }

  /** Copies text to the clipboard, with the older execCommand route where the Clipboard API is missing. */
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = el('textarea', { className: 'copy-buffer', readonly: true, 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    const copied = document.execCommand('copy');
    area.remove();
    if (!copied) throw new Error('copying failed: document.execCommand("copy") returned false');
  }

  /** Makes a button that copies `getText()` and briefly shows the outcome on itself. */
  function copyButton(labelKey, getText, attributes) {
    const label = t(labelKey);
    const copy = button(label, async () => {
      try {
        await copyText(getText());
        copy.textContent = t('answer.copied');
      } catch (error) {
        console.warn('wenshu: copying failed', error);
        copy.textContent = t('answer.copyFailed');
      }
      window.setTimeout(() => { copy.textContent = label; }, 2000);
    }, { className: 'small-button', ...attributes });
    return copy;
  }

  function chipList(questions, className) {
    const list = el('div', { className: `chips ${className || ''}`.trim() });
    for (const question of questions) {
      if (typeof question !== 'string' || !question.trim()) continue;
      list.append(button(question, () => ask(question), { className: 'chip' }));
    }
    return list;
  }

  // ---------------------------------------------------------------------------
  // Charts

  function columnIndexes(columns) {
    const measures = [];
    const texts = [];
    let time = -1;
    columns.forEach((column, index) => {
      if (MEASURE_TYPES.has(column.type)) measures.push(index);
      else if (column.type === 'date' && time < 0) time = index;
      else texts.push(index);
    });
    return { measures, texts, time };
  }

  function uniqueInOrder(values) {
    return [...new Set(values.map((value) => (value === null || value === undefined ? '—' : String(value))))];
  }

  function valueTooltip(type) {
    return (value) => formatCell(type, value);
  }

  function valueAxis(type) {
    const axis = {
      type: 'value',
      axisLabel: { formatter: (value) => formatAxisValue(type, value) },
      splitLine: { lineStyle: { color: '#ece8e4' } },
    };
    return axis;
  }

  /** Returns the grain of a time column, from its name such as metric_time__month. */
  function timeGrainOf(column, query) {
    const match = /__(day|week|month|quarter|year)$/.exec(column.name || '');
    if (match) return match[1];
    return (query && query.grain) || 'day';
  }

  /** Shortens an ISO period start for an axis tick: 2026-04-01 becomes 2026-04 (month) or 2026Q2 (quarter). */
  function timeTick(value, grain) {
    const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(value));
    if (!match) return String(value);
    if (grain === 'year') return match[1];
    if (grain === 'quarter') return `${match[1]}Q${Math.floor((Number(match[2]) - 1) / 3) + 1}`;
    if (grain === 'month') return `${match[1]}-${match[2]}`;
    return String(value);
  }

  function lineOption(columns, rows, indexes, query) {
    const valueIndex = indexes.measures[0];
    const valueType = columns[valueIndex].type;
    const grain = timeGrainOf(columns[indexes.time], query);
    const xValues = uniqueInOrder(rows.map((row) => row[indexes.time])).sort();
    const seriesIndex = indexes.texts[0];
    let series;
    if (seriesIndex !== undefined) {
      // One line per value of the first text column, e.g. per branch.
      const names = uniqueInOrder(rows.map((row) => row[seriesIndex])).slice(0, MAX_CHART_SERIES);
      series = names.map((name) => {
        const byTime = new Map();
        for (const row of rows) {
          if (String(row[seriesIndex] ?? '—') === name) byTime.set(String(row[indexes.time]), row[valueIndex]);
        }
        return { name, type: 'line', data: xValues.map((x) => byTime.get(x) ?? null) };
      });
    } else {
      // One line per measure column that shares the first measure's type.
      series = indexes.measures
        .filter((index) => columns[index].type === valueType)
        .map((index) => {
          const byTime = new Map(rows.map((row) => [String(row[indexes.time]), row[index]]));
          return { name: columns[index].label, type: 'line', data: xValues.map((x) => byTime.get(x) ?? null) };
        });
    }
    for (const line of series) {
      line.smooth = false;
      line.symbolSize = 6;
      line.connectNulls = true;
    }
    return {
      tooltip: { trigger: 'axis', valueFormatter: valueTooltip(valueType) },
      legend: series.length > 1 ? { type: 'scroll', bottom: 0 } : undefined,
      grid: { left: 8, right: 24, top: 36, bottom: series.length > 1 ? 40 : 12, containLabel: true },
      xAxis: {
        type: 'category',
        data: xValues,
        boundaryGap: false,
        axisLabel: { formatter: (value) => timeTick(value, grain), hideOverlap: true },
      },
      yAxis: { ...valueAxis(valueType), scale: true },
      series,
    };
  }

  function barOption(columns, rows, indexes) {
    const valueIndex = indexes.measures[0];
    const valueType = columns[valueIndex].type;
    const categoryIndex = indexes.texts.length > 0 ? indexes.texts[0] : indexes.time;
    // A second grouping column (another text column, or time) splits the bars into series.
    const groupIndex = indexes.texts.length > 1 ? indexes.texts[1]
      : (categoryIndex !== indexes.time && indexes.time >= 0 ? indexes.time : undefined);
    // Text categories (branch names) read better as horizontal bars on phones.
    const horizontal = categoryIndex !== indexes.time;

    let categories = uniqueInOrder(rows.map((row) => row[categoryIndex]));
    let series;
    if (groupIndex === undefined) {
      const pairs = rows.map((row) => [String(row[categoryIndex] ?? '—'), row[valueIndex]]);
      if (horizontal) pairs.sort((a, b) => (b[1] ?? -Infinity) - (a[1] ?? -Infinity));
      categories = pairs.map((pair) => pair[0]);
      series = [{ name: columns[valueIndex].label, type: 'bar', data: pairs.map((pair) => pair[1]) }];
    } else {
      const groups = uniqueInOrder(rows.map((row) => row[groupIndex])).slice(0, MAX_CHART_SERIES);
      if (groupIndex === indexes.time) groups.sort();
      series = groups.map((group) => {
        const byCategory = new Map();
        for (const row of rows) {
          if (String(row[groupIndex] ?? '—') === group) byCategory.set(String(row[categoryIndex] ?? '—'), row[valueIndex]);
        }
        return { name: group, type: 'bar', data: categories.map((category) => byCategory.get(category) ?? null) };
      });
    }
    for (const bar of series) bar.barMaxWidth = 28;

    const categoryAxis = {
      type: 'category',
      data: categories,
      inverse: horizontal,
      axisLabel: { interval: 0, width: horizontal ? 96 : 80, overflow: 'truncate' },
      axisTick: { show: false },
    };
    return {
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: valueTooltip(valueType) },
      legend: series.length > 1 ? { type: 'scroll', bottom: 0 } : undefined,
      grid: { left: 8, right: 24, top: 28, bottom: series.length > 1 ? 40 : 12, containLabel: true },
      xAxis: horizontal ? valueAxis(valueType) : { ...categoryAxis, axisLabel: { rotate: categories.length > 6 ? 35 : 0 } },
      yAxis: horizontal ? categoryAxis : valueAxis(valueType),
      series,
    };
  }

  function pieOption(columns, rows, indexes) {
    const valueIndex = indexes.measures[0];
    const valueType = columns[valueIndex].type;
    const nameIndex = indexes.texts.length > 0 ? indexes.texts[0] : indexes.time;
    const data = rows
      .filter((row) => isNumber(row[valueIndex]) && row[valueIndex] > 0)
      .map((row) => ({ name: String(row[nameIndex] ?? '—'), value: row[valueIndex] }));
    return {
      tooltip: { trigger: 'item', valueFormatter: valueTooltip(valueType) },
      legend: { type: 'scroll', bottom: 0 },
      series: [{
        name: columns[valueIndex].label,
        type: 'pie',
        radius: ['32%', '56%'],
        center: ['50%', '45%'],
        avoidLabelOverlap: true,
        // Long names wrap instead of being cut to "…" on narrow phones.
        label: { formatter: '{b}\n{d}%', width: 84, overflow: 'break', lineHeight: 15 },
        labelLine: { length: 8, length2: 10 },
        data,
      }],
    };
  }

  /** Builds the ECharts option for an answer, or null when it has nothing to draw. */
  function chartOption(answer) {
    const columns = answer.columns || [];
    const rows = answer.rows || [];
    if (!answer.chart || answer.chart === 'none' || rows.length === 0) return null;
    const indexes = columnIndexes(columns);
    if (indexes.measures.length === 0) return null;
    if (indexes.texts.length === 0 && indexes.time < 0) return null;

    let option;
    if (answer.chart === 'line' && indexes.time >= 0) option = lineOption(columns, rows, indexes, answer.query);
    else if (answer.chart === 'pie') option = pieOption(columns, rows, indexes);
    else option = barOption(columns, rows, indexes);

    if (columns[indexes.measures[0]].type === 'money' && answer.chart !== 'pie') {
      // Money axes are labelled in 万元, so the chart states its unit.
      option.title = {
        text: t('axis.unit', { unit: t('axis.tenThousand') }),
        right: 0,
        top: 0,
        textStyle: { fontSize: 11, fontWeight: 'normal', color: '#8b949e' },
      };
    }
    option.color = CHART_COLORS;
    option.animationDuration = 300;
    option.textStyle = { fontFamily: 'inherit' };
    return option;
  }

  function chartHeight(answer, option) {
    if (answer.chart === 'bar' && option.yAxis && option.yAxis.type === 'category') {
      const bars = option.yAxis.data.length * Math.max(1, option.series.length);
      return Math.min(900, Math.max(220, bars * 26 + 70));
    }
    return 300;
  }

  function drawChart(container, option) {
    if (container.clientWidth === 0) {
      deferredCharts.push([container, option]);
      return;
    }
    const chart = window.echarts.init(container, null, { renderer: 'canvas' });
    chart.setOption(option);
    charts.set(container, chart);
    if (chartResizeObserver) chartResizeObserver.observe(container);
  }

  function drawDeferredCharts() {
    const waiting = deferredCharts;
    deferredCharts = [];
    for (const [container, option] of waiting) {
      if (container.isConnected) drawChart(container, option);
    }
  }

  function disposeCharts() {
    for (const [container, chart] of charts) {
      if (chartResizeObserver) chartResizeObserver.unobserve(container);
      chart.dispose();
    }
    charts.clear();
    deferredCharts = [];
  }

  // ---------------------------------------------------------------------------
  // Answer parts

  /** Returns {label, value} for the big figure: the server's headline, else a value taken from the rows. */
  function headlineOf(answer) {
    if (answer.headline && answer.headline.value) {
      return { label: answer.headline.label || '', value: String(answer.headline.value) };
    }
    const columns = answer.columns || [];
    const rows = answer.rows || [];
    if (rows.length === 0) return null;
    const indexes = columnIndexes(columns);
    if (indexes.measures.length === 0) return null;
    // For a time series the latest period is the one that matters.
    const row = indexes.time >= 0 ? rows[rows.length - 1] : rows[0];
    const valueIndex = indexes.measures[0];
    const context = columns
      .map((column, index) => (MEASURE_TYPES.has(column.type) ? null : row[index]))
      .filter((value) => value !== null && value !== undefined && value !== '');
    const label = [columns[valueIndex].label, ...context.map(String)].join(' · ');
    return { label, value: formatFigure(columns[valueIndex].type, row[valueIndex]) };
  }

  function periodTextOf(answer) {
    if (answer.period_text) return answer.period_text;
    const period = answer.query && answer.query.period;
    if (!period || !period.start) return '';
    if (!period.end || period.start === period.end) return period.start;
    return t('answer.periodRange', { start: period.start, end: period.end });
  }

  function definitionsOf(answer) {
    if (Array.isArray(answer.definitions) && answer.definitions.length > 0) return answer.definitions;
    // Older answers carry the 口径 only as the later lines of `text`.
    return String(answer.text || '').split('\n').slice(1).filter((line) => line.trim());
  }

  function renderTable(answer) {
    const columns = answer.columns || [];
    const rows = answer.rows || [];
    const wrapper = el('div', { className: 'table-wrapper' });
    const table = el('table', { className: 'answer-table', testid: 'answer-table' });
    table.append(el('caption', { className: 'visually-hidden', text: t('answer.tableLabel') }));
    const headRow = el('tr');
    const body = el('tbody');
    const sort = { index: -1, descending: false };
    let showAll = rows.length <= INITIAL_TABLE_ROWS;

    function sortedRows() {
      if (sort.index < 0) return rows;
      const index = sort.index;
      const direction = sort.descending ? -1 : 1;
      const numeric = MEASURE_TYPES.has(columns[index].type);
      return [...rows].sort((a, b) => {
        const left = a[index];
        const right = b[index];
        if (left === null || left === undefined) return 1;
        if (right === null || right === undefined) return -1;
        if (numeric) return (left - right) * direction;
        return String(left).localeCompare(String(right), 'zh-Hans-CN') * direction;
      });
    }

    function fillBody() {
      body.replaceChildren();
      const visible = showAll ? sortedRows() : sortedRows().slice(0, INITIAL_TABLE_ROWS);
      for (const row of visible) {
        const tr = el('tr');
        columns.forEach((column, index) => {
          tr.append(el('td', { className: MEASURE_TYPES.has(column.type) ? 'numeric' : null, text: formatCell(column.type, row[index]) }));
        });
        body.append(tr);
      }
    }

    columns.forEach((column, index) => {
      const header = el('th', { scope: 'col', className: MEASURE_TYPES.has(column.type) ? 'numeric' : null, 'aria-sort': 'none' });
      const indicator = el('span', { className: 'sort-indicator', 'aria-hidden': 'true' });
      const sortButton = button(column.label || column.name, () => {
        sort.descending = sort.index === index ? !sort.descending : MEASURE_TYPES.has(column.type);
        sort.index = index;
        for (const cell of headRow.children) {
          cell.setAttribute('aria-sort', 'none');
          cell.querySelector('.sort-indicator').textContent = '';
        }
        header.setAttribute('aria-sort', sort.descending ? 'descending' : 'ascending');
        indicator.textContent = sort.descending ? '▼' : '▲';
        fillBody();
      }, { className: 'sort-button', title: t('answer.sortBy', { label: column.label || column.name }) });
      sortButton.append(indicator);
      header.append(sortButton);
      headRow.append(header);
    });
    table.append(el('thead', {}, headRow), body);
    fillBody();
    wrapper.append(table);

    if (!showAll) {
      const more = button(t('answer.showAllRows', { count: rows.length }), () => {
        showAll = true;
        fillBody();
        more.remove();
      }, { className: 'small-button show-all' });
      wrapper.append(more);
    }
    return wrapper;
  }

  function tableAsTsv(answer) {
    const columns = answer.columns || [];
    const lines = [columns.map((column) => column.label || column.name).join('\t')];
    for (const row of answer.rows || []) {
      lines.push(columns.map((column, index) => formatCellForCopy(column.type, row[index])).join('\t'));
    }
    return lines.join('\n');
  }

  function collapsible(titleKey, content, className) {
    const details = el('details', { className: `panel ${className || ''}`.trim() });
    details.append(el('summary', { text: t(titleKey) }), content);
    return details;
  }

  function renderFeedback(turn) {
    const answer = turn.answer;
    const container = el('div', { className: 'feedback', role: 'group', 'aria-label': t('answer.feedbackLabel') });
    const status = el('span', { className: 'feedback-status', role: 'status' });

    async function submit(rating) {
      for (const choice of container.querySelectorAll('button')) choice.disabled = true;
      const body = { session_id: answer.session_id || state.sessionId, rating, question: turn.question };
      if (answer.answer_id) body.answer_id = answer.answer_id;
      try {
        await postJson('/api/feedback', body);
        turn.feedback = rating;
        saveTurns();
        status.textContent = t('answer.feedbackThanks');
        container.querySelector(`[data-rating="${rating}"]`).classList.add('chosen');
      } catch (error) {
        console.warn('wenshu: feedback was not recorded', error);
        status.textContent = t('answer.feedbackFailed');
        for (const choice of container.querySelectorAll('button')) choice.disabled = false;
      }
    }

    const up = button('👍', () => submit('up'), {
      className: 'icon-button', 'aria-label': t('answer.feedbackUp'), title: t('answer.feedbackUp'), 'data-rating': 'up', testid: 'feedback-up',
    });
    const down = button('👎', () => submit('down'), {
      className: 'icon-button', 'aria-label': t('answer.feedbackDown'), title: t('answer.feedbackDown'), 'data-rating': 'down', testid: 'feedback-down',
    });
    container.append(up, down, status);
    if (turn.feedback) {
      up.disabled = true;
      down.disabled = true;
      (turn.feedback === 'up' ? up : down).classList.add('chosen');
      status.textContent = t('answer.feedbackThanks');
    }
    return container;
  }

  // ---------------------------------------------------------------------------
  // Answer cards

  function renderMetricBody(card, turn, afterAppend) {
    const answer = turn.answer;
    const rows = answer.rows || [];
    const columns = answer.columns || [];
    if (rows.length === 0 || columns.length === 0) {
      card.append(paragraphs(answer.text || t('answer.noData'), 'answer-text'));
      return;
    }

    const headline = headlineOf(answer);
    if (headline) {
      card.append(el('div', { className: 'headline', testid: 'headline' },
        el('span', { className: 'headline-label', text: headline.label }),
        el('span', { className: 'headline-value', text: headline.value })));
    }

    const firstLine = String(answer.text || '').split('\n')[0];
    if (firstLine) card.append(el('p', { className: 'answer-sentence', text: firstLine }));

    const meta = el('p', { className: 'answer-meta' });
    if (answer.reference_date) meta.append(el('span', { text: t('answer.referenceDate', { date: answer.reference_date }) }));
    const period = periodTextOf(answer);
    if (period) meta.append(el('span', { text: t('answer.period', { period }) }));
    if (meta.childElementCount > 0) card.append(meta);

    const option = chartOption(answer);
    if (option) {
      const measureLabel = columns[columnIndexes(columns).measures[0]].label;
      const container = el('div', {
        className: 'chart', testid: 'chart', role: 'img', 'aria-label': t('answer.chartLabel', { label: measureLabel }),
      });
      container.style.height = `${chartHeight(answer, option)}px`;
      card.append(container);
      afterAppend.push(() => drawChart(container, option));
    }

    card.append(renderTable(answer));
    card.append(el('p', { className: 'row-count', text: t('answer.rowsShown', { count: rows.length }) }));

    const definitions = definitionsOf(answer);
    if (definitions.length > 0) {
      const list = el('ul', { className: 'definitions' });
      for (const line of definitions) list.append(el('li', { text: line }));
      card.append(collapsible('answer.definitions', list, 'definitions-panel'));
    }
    if (answer.sql) {
      const sqlPanel = el('div', { className: 'sql-panel' },
        el('pre', { className: 'sql' }, el('code', { text: answer.sql })),
        copyButton('answer.copySql', () => answer.sql, { testid: 'copy-sql' }));
      card.append(collapsible('answer.sql', sqlPanel, 'sql-details'));
    }

    const actions = el('div', { className: 'answer-actions' });
    actions.append(copyButton('answer.copyTable', () => tableAsTsv(answer), { testid: 'copy-table' }));
    if (answer.answer_id) {
      const base = `/api/answers/${encodeURIComponent(answer.answer_id)}/table`;
      const status = el('p', { className: 'download-status', role: 'status' });
      actions.append(
        downloadLink(`${base}.csv`, 'answer.downloadCsv', 'download-csv', status),
        downloadLink(`${base}.xlsx`, 'answer.downloadXlsx', 'download-xlsx', status));
      card.append(actions, status);
    } else {
      card.append(actions);
    }
  }

  /**
   * Makes a download link for a server export. A plain link cannot send the
   * access token, so a click fetches the file with it and saves the blob. The
   * server keeps answers for a limited time, and a file that is gone (a
   * restored conversation, say) shows a message in `status` instead.
   */
  function downloadLink(href, labelKey, testid, status) {
    const link = el('a', { className: 'small-button', href, download: '', testid, text: t(labelKey) });
    link.addEventListener('click', async (event) => {
      event.preventDefault();
      if (link.getAttribute('aria-busy') === 'true') return;
      link.setAttribute('aria-busy', 'true');
      status.textContent = '';
      try {
        status.textContent = await downloadFile(href);
      } finally {
        link.removeAttribute('aria-busy');
      }
    });
    return link;
  }

  /** Downloads `href` with the access token and saves it. Returns '' on success, else the message of the failure. */
  async function downloadFile(href) {
    let response;
    let blob;
    try {
      response = await apiFetch(href, { headers: { Accept: '*/*' } });
      if (response.ok) blob = await response.blob();
    } catch (error) {
      console.warn(`wenshu: downloading ${href} failed`, error);
      return t('error.network');
    }
    if (response.status === 404) return t('answer.downloadGone');
    if (response.status === 401) return t('signIn.unauthorized');
    if (!response.ok) return errorMessage(turnErrorFrom(await apiErrorFrom(response), false));

    const url = URL.createObjectURL(blob);
    const anchor = el('a', { href: url, download: downloadName(response.headers.get('Content-Disposition'), href), hidden: true });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), DOWNLOAD_URL_LIFETIME_MS);
    return '';
  }

  /**
   * Returns the file name from a Content-Disposition header (the UTF-8
   * filename* first, then filename), else "wenshu-" and the last part of `href`.
   */
  function downloadName(disposition, href) {
    let name = '';
    const extended = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(disposition || '');
    const plain = /filename\s*=\s*(?:"([^"]*)"|([^;\s]+))/.exec(disposition || '');
    if (extended) {
      try {
        name = decodeURIComponent(extended[1].trim());
      } catch (error) {
        name = '';
      }
    }
    if (!name && plain) name = plain[1] !== undefined ? plain[1] : plain[2];
    // Path separators become `_`, so the name is never a path.
    name = name.replace(/[\\/]/g, '_').trim();
    return name || `wenshu-${href.split('/').pop()}`;
  }

  function renderFaqBody(card, turn) {
    const answer = turn.answer;
    const faq = answer.faq || {};
    const head = el('div', { className: 'faq-head' });
    if (faq.category) head.append(el('span', { className: 'tag', testid: 'faq-category', text: faq.category }));
    if (faq.question) head.append(el('span', { className: 'faq-question', text: t('answer.faqQuestion', { question: faq.question }) }));
    if (head.childElementCount > 0) card.append(head);

    const phrased = answer.phrased;
    if (phrased && typeof phrased.text === 'string' && Array.isArray(phrased.sources)) {
      const box = el('section', { className: 'phrased', testid: 'phrased' });
      box.append(el('p', { className: 'chip-heading', text: t('answer.phrased', { sources: phrased.sources.join('、') }) }));
      box.append(renderMarkdownLite(phrased.text));
      box.querySelector('.markdown').dataset.testid = 'phrased-text';
      card.append(box, el('p', { className: 'chip-heading', text: t('answer.entryText') }));
    } else if (answer.phrasingRejected) {
      card.append(el('p', { className: 'phrasing-rejected', testid: 'phrasing-rejected', text: t('answer.phrasingRejected') }));
    }
    card.append(renderMarkdownLite(faq.answer || answer.text));

    const related = (faq.runners_up || []).map((entry) => entry && entry.question).filter(Boolean);
    if (related.length > 0) {
      card.append(el('p', { className: 'chip-heading', text: t('answer.faqRelated') }), chipList(related, 'related'));
    }
  }

  function renderAnswerCard(turn, afterAppend) {
    const answer = turn.answer;
    const kind = answer.kind || 'fallback';
    const card = el('article', { className: `answer-card kind-${kind}`, testid: 'answer', 'data-kind': kind, 'aria-label': t('turn.assistant') });

    if (answer.rewritten) {
      card.append(el('p', { className: 'rewritten', testid: 'rewritten', text: t('answer.rewritten', { text: answer.rewritten }) }));
    }

    if (kind === 'metric' || kind === 'sql') {
      // An analyst's SQL answer leads with the warning that the model wrote
      // the SQL; its SQL panel is open.
      renderMetricBody(card, turn, afterAppend);
      if (kind === 'sql') {
        const details = card.querySelector('.sql-details');
        if (details) details.open = true;
      }
    } else if (kind === 'faq') {
      renderFaqBody(card, turn);
    } else {
      card.append(paragraphs(answer.text, 'answer-text'));
      if (kind === 'clarify' && Array.isArray(answer.candidates) && answer.candidates.length > 0) {
        card.append(chipList(answer.candidates, 'candidates'));
      }
    }

    const hasRows = Array.isArray(answer.rows) && answer.rows.length > 0;
    if (kind === 'faq' || ((kind === 'metric' || kind === 'sql') && hasRows)) card.append(renderFeedback(turn));

    // FAQ answers suggest their runners-up again, so questions already shown as chips are skipped.
    const shown = new Set([...card.querySelectorAll('.chip')].map((chip) => chip.textContent));
    const suggestions = (Array.isArray(answer.suggestions) ? answer.suggestions : []).filter((question) => !shown.has(question));
    if (suggestions.length > 0) {
      if (kind !== 'fallback') card.append(el('p', { className: 'chip-heading', text: t('answer.suggestions') }));
      card.append(chipList(suggestions, 'suggestions'));
    }
    return card;
  }

  /**
   * Picks one language from a server message written as "中文 / English",
   * and returns any other message unchanged. A message that wraps another
   * bilingual one, "没有权限 / forbidden: 中文 / English", becomes
   * "没有权限：中文" or "forbidden: English".
   */
  function localizeServerMessage(message) {
    const han = /[\u4e00-\u9fff]/;
    const wrapped = /^([^/]*[\u4e00-\u9fff][^/]*?)\s\/\s([A-Za-z][A-Za-z ]*):\s(.+)$/.exec(message);
    if (wrapped && han.test(wrapped[3]) && wrapped[3].includes(' / ')) {
      const inner = localizeServerMessage(wrapped[3]);
      return window.WenshuI18n.getLanguage() === 'en' ? `${wrapped[2]}: ${inner}` : `${wrapped[1].trim()}：${inner}`;
    }
    for (const separator of message.matchAll(/\s?\/\s/g)) {
      const chinese = message.slice(0, separator.index).trim();
      const english = message.slice(separator.index + separator[0].length).trim();
      if (han.test(chinese) && english && !han.test(english)) {
        return window.WenshuI18n.getLanguage() === 'en' ? english : chinese;
      }
    }
    return message;
  }

  function errorMessage(error) {
    let text;
    if (error.messageKey) text = t(error.messageKey, error.params);
    else if (error.message) text = localizeServerMessage(error.message);
    else text = t('error.server', { status: error.status || '?' });
    // The server's 429 message names the seconds already; another may not.
    if (error.retryAfter && !text.includes(String(error.retryAfter))) {
      text = `${text} ${t('error.retryAfter', { seconds: error.retryAfter })}`;
    }
    return text;
  }

  function renderErrorCard(turn) {
    const card = el('article', { className: 'answer-card error-card', testid: 'answer', 'data-kind': 'error', role: 'alert' });
    card.append(el('p', { className: 'error-title', text: t('error.title') }), el('p', { className: 'error-message', text: errorMessage(turn.error) }));
    if (turn.error.retryable) card.append(button(t('error.retry'), () => ask(turn.question), { className: 'small-button' }));
    return card;
  }

  /**
   * Shows a piece of the model's phrasing of an FAQ answer in the waiting
   * card. The answer card replaces it when the stream ends, with the
   * phrasing only when the server's checks passed.
   */
  function onPhrasingPiece(text) {
    if (typeof text !== 'string' || text === '') return;
    const card = elements.conversation.querySelector('.pending');
    if (!card) return;
    let phrasing = card.querySelector('.phrasing');
    if (!phrasing) {
      card.append(el('p', { className: 'chip-heading', text: t('answer.phrasing') }));
      phrasing = el('p', { className: 'phrasing', testid: 'phrasing' });
      card.append(phrasing);
    }
    phrasing.textContent += text;
  }

  function renderPendingCard() {
    const card = el('article', { className: 'answer-card pending', 'aria-busy': 'true' });
    const stageLine = el('p', { className: 'stage-line', testid: 'stage', role: 'status' });
    card.append(stageLine);
    updateStageLine(stageLine);
    return card;
  }

  function stageLabel(stage) {
    const key = `stage.${stage.stage}`;
    if (window.WenshuI18n.has(key)) return t(key);
    return stage.label || stage.stage || '';
  }

  function updateStageLine(stageLine) {
    stageLine.replaceChildren();
    if (state.pendingStages.length === 0) {
      stageLine.append(el('span', { className: 'stage current', text: t('stage.waiting') }));
      return;
    }
    state.pendingStages.forEach((stage, index) => {
      if (index > 0) stageLine.append(el('span', { className: 'stage-arrow', 'aria-hidden': 'true', text: ' → ' }));
      const current = index === state.pendingStages.length - 1;
      stageLine.append(el('span', { className: current ? 'stage current' : 'stage done', 'data-stage': stage.stage, text: stageLabel(stage) }));
    });
  }

  function renderTurn(turn, afterAppend) {
    const item = el('li', { className: 'turn' });
    item.append(el('div', { className: 'question-bubble', 'aria-label': t('turn.you') }, el('p', { text: turn.question })));
    if (turn.answer) item.append(renderAnswerCard(turn, afterAppend));
    else if (turn.error) item.append(renderErrorCard(turn));
    else item.append(renderPendingCard());
    return item;
  }

  /** Re-renders the whole conversation from state (after load, language switch, or a new answer). */
  function renderConversation() {
    disposeCharts();
    const afterAppend = [];
    const items = state.turns.map((turn) => renderTurn(turn, afterAppend));
    elements.conversation.replaceChildren(...items);
    updateAccessView();
    for (const draw of afterAppend) draw();
    return items;
  }

  /**
   * Renders the last turn again in place (the pending answer becomes the
   * answer) and returns its list item. Earlier turns and their charts stay.
   */
  function renderLastTurn() {
    const afterAppend = [];
    const item = renderTurn(state.turns[state.turns.length - 1], afterAppend);
    const previous = elements.conversation.lastElementChild;
    if (previous) {
      for (const container of previous.querySelectorAll('[data-testid="chart"]')) {
        const chart = charts.get(container);
        if (chart) chart.dispose();
        if (chartResizeObserver) chartResizeObserver.unobserve(container);
        charts.delete(container);
      }
      previous.replaceWith(item);
    } else {
      elements.conversation.append(item);
    }
    elements.emptyState.hidden = true;
    for (const draw of afterAppend) draw();
    return item;
  }

  // ---------------------------------------------------------------------------
  // Asking

  function setBusy(busy) {
    state.busy = busy;
    elements.input.disabled = busy;
    elements.send.disabled = busy;
    elements.form.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function scrollToBottom() {
    elements.scroller.scrollTop = elements.scroller.scrollHeight;
  }

  function onStage(stage) {
    if (!stage || !stage.stage) return;
    const known = state.pendingStages.findIndex((seen) => seen.stage === stage.stage);
    if (known >= 0) state.pendingStages[known] = stage;
    else state.pendingStages.push(stage);
    state.pendingStages.sort((a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage));
    const stageLine = elements.conversation.querySelector('.pending [data-testid="stage"]');
    if (stageLine) updateStageLine(stageLine);
  }

  /** Describes a failed request as a stored turn error. */
  function turnErrorFrom(error, timedOut) {
    if (timedOut) return { code: 'timeout', messageKey: 'error.timeout', retryable: true };
    if (error instanceof ApiError) {
      const retryable = error.status >= 500 || error.status === 429;
      const described = { code: error.code, status: error.status, retryable };
      if (error.retryAfter) described.retryAfter = error.retryAfter;
      if (error.message) return { ...described, message: error.message };
      return { ...described, messageKey: 'error.server', params: { status: error.status } };
    }
    if (error instanceof SyntaxError) return { code: 'bad_response', messageKey: 'error.badResponse', retryable: true };
    return { code: 'network', messageKey: 'error.network', retryable: true };
  }

  /**
   * Sends a question and renders its answer, unless another question is
   * pending. While signed out, and after a 401, the question stays in the
   * input box for after signing in.
   */
  async function ask(question) {
    const message = String(question || '').trim();
    if (!message || state.busy) return;
    if (state.view !== 'chat') showView('chat');
    if (isSignedOut()) {
      elements.input.value = message;
      setSignInMessage({ key: 'signIn.empty' });
      elements.tokenInput.focus();
      return;
    }

    const turn = { question: message };
    state.turns.push(turn);
    state.pendingStages = [];
    elements.input.value = '';
    setBusy(true);
    // A pending turn has no chart, so nothing waits to be drawn after appending.
    elements.conversation.append(renderTurn(turn, []));
    elements.emptyState.hidden = true;
    scrollToBottom();

    const generation = state.generation;
    const controller = new AbortController();
    state.pendingController = controller;
    let timedOut = false;
    let unauthorized = false;
    const timer = window.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, REQUEST_TIMEOUT_MS);

    try {
      const answer = await requestAnswer({ session_id: state.sessionId, message }, onStage, controller.signal);
      if (!answer || typeof answer !== 'object' || !answer.kind) throw new SyntaxError('invalid chat response: the `kind` field is missing');
      turn.answer = answer;
      if (answer.session_id) {
        state.sessionId = answer.session_id;
        saveSession();
      }
    } catch (error) {
      if (generation !== state.generation) return;
      if (!(error instanceof ApiError)) console.warn('wenshu: the question failed', error);
      if (error instanceof ApiError && error.status === 401) unauthorized = true;
      else turn.error = turnErrorFrom(error, timedOut);
    } finally {
      window.clearTimeout(timer);
      if (generation === state.generation) {
        state.pendingController = null;
        setBusy(false);
      }
    }
    if (generation !== state.generation) return;

    if (unauthorized) {
      // onUnauthorized has shown the sign-in panel; the question goes back
      // to the input box and leaves no turn behind.
      state.turns = state.turns.filter((kept) => kept !== turn);
      renderConversation();
      elements.input.value = message;
      return;
    }

    let last;
    if (state.turns.length > MAX_STORED_TURNS) {
      state.turns = state.turns.slice(-MAX_STORED_TURNS);
      last = renderConversation().at(-1);
    } else {
      last = renderLastTurn();
    }
    saveTurns();
    last.scrollIntoView({ block: 'start' });
    if (window.matchMedia('(pointer: fine)').matches) elements.input.focus();
  }

  /** Drops the conversation from the page and from storage, and abandons a pending answer. */
  function forgetConversation() {
    state.generation += 1;
    if (state.pendingController) state.pendingController.abort();
    state.pendingController = null;
    state.sessionId = null;
    state.turns = [];
    state.pendingStages = [];
    clearStoredConversation();
    setBusy(false);
  }

  function startNewConversation() {
    forgetConversation();
    renderConversation();
    showView('chat');
    elements.input.value = '';
    if (window.matchMedia('(pointer: fine)').matches) elements.input.focus();
  }

  // ---------------------------------------------------------------------------
  // Empty screen examples

  async function loadExamples() {
    const language = window.WenshuI18n.getLanguage();
    let body = null;
    try {
      body = await getJson(`/api/examples?lang=${language}`);
    } catch (error) {
      // Servers without /api/examples keep the built-in examples.
    }
    if (language !== window.WenshuI18n.getLanguage()) return;
    renderExamples(body);
  }

  /** Fills the empty screen from a GET /api/examples body, or from the built-in examples without one. */
  function renderExamples(body) {
    const builtIn = BUILT_IN_EXAMPLES[window.WenshuI18n.getLanguage()] || BUILT_IN_EXAMPLES.zh;
    let metricExamples = builtIn.metric;
    if (body && Array.isArray(body.examples) && body.examples.length > 0) metricExamples = body.examples;
    const faqExamples = builtIn.faq.filter((question) => !metricExamples.includes(question));
    elements.metricExamples.replaceChildren(...chipList(metricExamples).children);
    elements.faqExamples.replaceChildren(...chipList(faqExamples).children);
  }

  // ---------------------------------------------------------------------------
  // Metric catalog

  function showView(requested) {
    // Signed out, the catalog would only get a 401, so the sign-in panel stays.
    const view = requested === 'catalog' && isSignedOut() ? 'chat' : requested;
    state.view = view;
    const catalog = view === 'catalog';
    elements.chatView.hidden = catalog;
    elements.catalogView.hidden = !catalog;
    elements.chatTab.setAttribute('aria-selected', String(!catalog));
    elements.catalogTab.setAttribute('aria-selected', String(catalog));
    elements.scroller.scrollTop = catalog ? 0 : elements.scroller.scrollHeight;
    if (catalog) {
      loadCatalog();
      // On touch screens focusing would pop up the keyboard over the list.
      if (window.matchMedia('(pointer: fine)').matches) elements.catalogSearch.focus();
    } else {
      drawDeferredCharts();
      for (const chart of charts.values()) chart.resize();
    }
  }

  async function loadCatalog() {
    if (state.catalog) {
      renderCatalog();
      return;
    }
    elements.catalogStatus.textContent = t('catalog.loading');
    try {
      state.catalog = await getJson('/api/metrics');
      state.catalogError = null;
    } catch (error) {
      state.catalogError = error;
    }
    renderCatalog();
  }

  function exampleQuestionFor(metric) {
    if (window.WenshuI18n.getLanguage() === 'en') {
      const english = (metric.synonyms || []).find((synonym) => /^[\x20-\x7e]+$/.test(synonym));
      if (english) return t('catalog.exampleQuestion', { label: english });
    }
    return t('catalog.exampleQuestion', { label: metric.label || metric.name });
  }

  function fillQuestion(question) {
    showView('chat');
    elements.input.value = question;
    elements.input.focus();
  }

  function catalogMatches(metric, query) {
    if (!query) return true;
    const haystack = [metric.label, metric.name, metric.description, ...(metric.synonyms || [])]
      .filter(Boolean)
      .join('\n')
      .toLowerCase();
    return haystack.includes(query);
  }

  function renderCatalogItem(metric) {
    const question = exampleQuestionFor(metric);
    const item = el('li', { className: 'catalog-item', testid: 'catalog-item', 'data-metric': metric.name });
    item.addEventListener('click', (event) => {
      if (event.target.closest('a')) return;
      fillQuestion(question);
    });

    item.append(el('div', { className: 'catalog-title' },
      el('h3', { text: metric.label || metric.name }),
      el('code', { className: 'metric-name', text: metric.name })));
    if (metric.description) item.append(el('p', { className: 'catalog-description', text: metric.description }));

    const facts = el('dl', { className: 'catalog-facts' });
    function fact(labelKey, value) {
      if (!value) return;
      facts.append(el('dt', { text: t(labelKey) }), el('dd', { text: value }));
    }
    const unitKey = `unit.${metric.unit}`;
    fact('catalog.unit', window.WenshuI18n.has(unitKey) ? t(unitKey) : metric.unit);
    const periodKey = `period.${metric.default_period}`;
    fact('catalog.defaultPeriod', window.WenshuI18n.has(periodKey) ? t(periodKey) : metric.default_period);
    fact('catalog.grains', (metric.time_grains || [])
      .map((grain) => (window.WenshuI18n.has(`grain.${grain}`) ? t(`grain.${grain}`) : grain)).join(' / '));
    fact('catalog.dimensions', (metric.dimensions || []).map((dimension) => dimension.label || dimension.name).join('、'));
    fact('catalog.synonyms', (metric.synonyms || []).join('、'));
    item.append(facts);

    item.append(button(`${t('catalog.ask')}：${question}`, (event) => {
      event.stopPropagation();
      fillQuestion(question);
    }, { className: 'small-button catalog-ask' }));
    return item;
  }

  function renderCatalog() {
    if (state.catalogError) {
      const reason = state.catalogError.message || String(state.catalogError);
      elements.catalogStatus.textContent = t('catalog.loadFailed', { message: reason });
      elements.catalogList.replaceChildren();
      return;
    }
    if (!state.catalog) return;
    const metrics = state.catalog.metrics || [];
    elements.catalogIntro.textContent = t('catalog.intro', { count: metrics.length, date: state.catalog.reference_date || '—' });
    const query = elements.catalogSearch.value.trim().toLowerCase();
    const shown = metrics.filter((metric) => catalogMatches(metric, query));
    elements.catalogList.replaceChildren(...shown.map(renderCatalogItem));
    if (shown.length === 0) elements.catalogStatus.textContent = t('catalog.noMatch', { query: elements.catalogSearch.value.trim() });
    else elements.catalogStatus.textContent = query ? t('catalog.matchCount', { shown: shown.length, count: metrics.length }) : '';
  }

  // ---------------------------------------------------------------------------
  // Sign-in with an access token

  function isSignedOut() {
    return state.authRequired && !state.token;
  }

  /** Shows the sign-in panel in place of the conversation while signed out, and the 退出 button while signed in. */
  function updateAccessView() {
    const signedOut = isSignedOut();
    elements.signIn.hidden = !signedOut;
    elements.conversation.hidden = signedOut;
    elements.emptyState.hidden = signedOut || state.turns.length > 0;
    elements.signOut.hidden = !(state.authRequired && state.token);
    renderSignInMessage();
  }

  /** Sets the sign-in panel's message: {key, params} of i18n.js, {text}, or null. */
  function setSignInMessage(message) {
    state.signInMessage = message;
    renderSignInMessage();
  }

  function renderSignInMessage() {
    const message = state.signInMessage;
    if (!message) elements.signInMessage.textContent = '';
    else if (message.key) elements.signInMessage.textContent = t(message.key, message.params);
    else elements.signInMessage.textContent = message.text;
  }

  /**
   * Signs the page out after a 401: clears the stored token and shows the
   * sign-in panel. The conversation stays stored for the same token's return. A 401
   * for a token that was replaced meanwhile changes nothing.
   */
  function onUnauthorized(tokenUsed) {
    if (tokenUsed !== state.token) return;
    state.authRequired = true;
    state.token = null;
    saveToken();
    setSignInMessage({ key: 'signIn.unauthorized' });
    if (state.view !== 'chat') showView('chat');
    updateAccessView();
  }

  /** Returns the SHA-256 hex of a token, or null where the page has no Web Crypto (plain HTTP off localhost). */
  async function tokenFingerprint(token) {
    if (!window.crypto || !window.crypto.subtle) return null;
    const digest = await window.crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
    return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  }

  /**
   * Keeps the stored conversation only when `token` started it, because the
   * server rejects another user's session with a 403 and the page must not
   * show one user's questions to the next.
   */
  async function claimStoredConversation(token) {
    const fingerprint = await tokenFingerprint(token);
    // NOTE: without Web Crypto the owner cannot be compared, so every
    // sign-in starts with an empty conversation.
    if (fingerprint === null || fingerprint !== readStoredOwner()) forgetConversation();
    saveOwner(fingerprint);
  }

  /** Checks the typed token with GET /api/examples, which also fills the empty screen, and stores it. */
  async function signIn(event) {
    event.preventDefault();
    const token = elements.tokenInput.value.trim();
    if (!token) {
      setSignInMessage({ key: 'signIn.empty' });
      elements.tokenInput.focus();
      return;
    }
    // fetch throws on a header value outside Latin-1, and `wenshu token new`
    // prints hex tokens, so anything but visible ASCII is a typing mistake.
    if (!/^[\x21-\x7e]+$/.test(token)) {
      setSignInMessage({ key: 'signIn.invalidCharacters' });
      elements.tokenInput.focus();
      return;
    }

    setSignInMessage({ key: 'signIn.checking' });
    elements.signInButton.disabled = true;
    state.token = token;
    const language = window.WenshuI18n.getLanguage();
    let examples;
    try {
      examples = await getJson(`/api/examples?lang=${language}`);
    } catch (error) {
      // A 401 has already signed the page out and shown its message.
      if (error.status !== 401) {
        if (state.token === token) state.token = null;
        console.warn('wenshu: the token could not be checked', error);
        setSignInMessage({ text: errorMessage(turnErrorFrom(error, false)) });
      }
      elements.tokenInput.focus();
      return;
    } finally {
      elements.signInButton.disabled = false;
    }
    if (state.token !== token) return;

    saveToken();
    elements.tokenInput.value = '';
    await claimStoredConversation(token);
    state.signInMessage = null;
    renderConversation();
    if (language === window.WenshuI18n.getLanguage()) renderExamples(examples);
    else loadExamples();
    scrollToBottom();
    elements.input.focus();
  }

  /** Clears the token, the session and the stored conversation, so the next user of the device starts clean. */
  function signOut() {
    forgetConversation();
    state.token = null;
    saveToken();
    saveOwner(null);
    // Another user may see another catalog one day, so it is fetched again.
    state.catalog = null;
    state.catalogError = null;
    state.signInMessage = null;
    elements.input.value = '';
    renderConversation();
    showView('chat');
    elements.tokenInput.focus();
  }

  /** Returns whether GET /api/health reports that the server requires a token. */
  async function readAuthRequired() {
    try {
      const health = await getJson('/api/health');
      return Boolean(health && health.auth === true);
    } catch (error) {
      // Without the health report the page starts signed in. A 401 on a
      // later request still brings up the sign-in panel.
      console.warn('wenshu: GET /api/health failed, so the page assumes no token is needed', error);
      return false;
    }
  }

  // ---------------------------------------------------------------------------
  // Start-up

  function switchLanguage() {
    const next = window.WenshuI18n.getLanguage() === 'zh' ? 'en' : 'zh';
    window.WenshuI18n.setLanguage(next);
    renderConversation();
    if (!isSignedOut()) loadExamples();
    if (state.catalog || state.catalogError) renderCatalog();
  }

  function bindEvents() {
    elements.form.addEventListener('submit', (event) => {
      event.preventDefault();
      ask(elements.input.value);
    });
    elements.input.addEventListener('keydown', (event) => {
      // Enter that confirms an input-method candidate (Chinese typing) must not send.
      if (event.key === 'Enter' && (event.isComposing || event.keyCode === 229)) event.preventDefault();
    });
    elements.newConversation.addEventListener('click', startNewConversation);
    elements.signInForm.addEventListener('submit', signIn);
    elements.signOut.addEventListener('click', signOut);
    elements.languageToggle.addEventListener('click', switchLanguage);
    elements.chatTab.addEventListener('click', () => showView('chat'));
    elements.catalogTab.addEventListener('click', () => showView('catalog'));
    elements.catalogBack.addEventListener('click', () => showView('chat'));
    elements.catalogSearch.addEventListener('input', renderCatalog);
    window.addEventListener('resize', () => {
      for (const chart of charts.values()) chart.resize();
    });
  }

  async function start() {
    window.WenshuI18n.apply(document);
    loadStoredState();
    bindEvents();
    // The conversation waits for the health report, so a signed-out page
    // never shows the stored one.
    state.authRequired = await readAuthRequired();
    renderConversation();
    if (isSignedOut()) {
      if (window.matchMedia('(pointer: fine)').matches) elements.tokenInput.focus();
    } else {
      loadExamples();
    }
    scrollToBottom();
  }

  start();
})();
