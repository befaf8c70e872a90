// UI strings of the Wenshu chat page in Simplified Chinese (the default) and
// English. Answers from the server keep the language the server wrote them in.
// Exposes `window.WenshuI18n`, which app.js uses for every string it shows.
'use strict';

(function () {
  const STORAGE_KEY = 'wenshu.language';
  const SUPPORTED = ['zh', 'en'];

  const MESSAGES = {
    zh: {
      'page.title': '问数 · 指标助手',
      'app.title': '问数',
      'app.subtitle': '梅州 · 指标问答',
      'nav.label': '视图切换',
      'nav.chat': '对话',
      'nav.catalog': '指标目录',
      'action.newConversation': '新对话',
      'action.newConversationLabel': '清空当前对话，开始新对话',
      'action.signOut': '退出',
      'action.signOutLabel': '退出登录，并清除本机保存的令牌和对话',
      'signIn.heading': '令牌登录',
      'signIn.intro': '问数已开启访问控制，请输入您的访问令牌。',
      'signIn.tokenLabel': '访问令牌',
      'signIn.submit': '登录',
      'signIn.hint': '令牌由系统管理员发放。没有令牌或令牌失效时，请联系管理员。',
      'signIn.checking': '正在验证令牌…',
      'signIn.empty': '请输入访问令牌。',
      'signIn.invalidCharacters': '令牌只能包含英文字母、数字和符号，请检查后重新输入。',
      'signIn.unauthorized': '令牌无效或已过期，请重新登录。',
      'language.toggle': 'EN',
      'language.toggleLabel': 'Switch to English',
      'input.placeholder': '问一个指标或业务问题，例如：各支行存款余额',
      'input.label': '输入问题',
      'input.send': '发送',
      'input.sendLabel': '发送问题',
      'empty.heading': '您好，我是问数',
      'empty.intro': '用一句话问存款指标，或者问电子银行的操作问题。',
      'empty.metricExamples': '指标示例',
      'empty.faqExamples': '常见问题',
      'turn.you': '我的问题',
      'turn.assistant': '问数的回答',
      'stage.understanding': '理解问题',
      'stage.compiling': '生成查询',
      'stage.querying': '查询数据',
      'stage.answering': '生成回答',
      'stage.waiting': '正在处理…',
      'answer.rewritten': '理解为：{text}',
      'answer.referenceDate': '数据日期 {date}',
      'answer.period': '期间 {period}',
      'answer.periodRange': '{start} 至 {end}',
      'answer.definitions': '口径',
      'answer.sql': 'SQL',
      'answer.copySql': '复制 SQL',
      'answer.copyTable': '复制表格',
      'answer.copied': '已复制',
      'answer.copyFailed': '复制失败，请手动选择复制',
      'answer.downloadCsv': '下载 CSV',
      'answer.downloadXlsx': '下载 Excel',
      'answer.downloadGone': '这个结果已不在服务器上，请重新提问后再下载。',
      'answer.chartLabel': '{label}图表',
      'answer.tableLabel': '查询结果表',
      'answer.sortAscending': '升序',
      'answer.sortDescending': '降序',
      'answer.sortBy': '按“{label}”排序',
      'answer.showAllRows': '显示全部 {count} 行',
      'answer.rowsShown': '共 {count} 行',
      'answer.suggestions': '接着问',
      'answer.faqQuestion': '匹配的问题：{question}',
      'answer.faqRelated': '相关问题',
      'answer.phrasing': '模型正在根据知识库整理回答（逐句核对后显示）…',
      'answer.phrasingRejected': '模型整理的回答未通过核对，未予显示。以下为知识库原文。',
      'answer.phrased': '模型整理的回答（依据条目：{sources}）',
      'answer.entryText': '知识库原文',
      'answer.feedbackLabel': '这个回答有帮助吗？',
      'answer.feedbackUp': '有帮助',
      'answer.feedbackDown': '没帮助',
      'answer.feedbackThanks': '已记录，谢谢',
      'answer.feedbackFailed': '反馈未能记录，请稍后再试',
      'answer.noData': '没有数据',
      'error.title': '出错了',
      'error.network': '无法连接问数服务，请检查网络后重试。',
      'error.server': '服务暂时不可用（HTTP {status}），请稍后再试。',
      'error.timeout': '等待回答超时，请稍后再试。',
      'error.badResponse': '服务返回的内容无法识别。',
      'error.retry': '重新提问',
      'error.retryAfter': '请 {seconds} 秒后再试。',
      'catalog.heading': '指标目录',
      'catalog.intro': '共 {count} 个指标，数据日期 {date}。点击指标可填入示例问题。',
      'catalog.searchLabel': '搜索指标',
      'catalog.searchPlaceholder': '按名称、同义词或口径搜索',
      'catalog.back': '返回对话',
      'catalog.loading': '正在加载指标目录…',
      'catalog.loadFailed': '指标目录加载失败：{message}',
      'catalog.noMatch': '没有匹配“{query}”的指标。',
      'catalog.matchCount': '显示 {shown} / {count} 个指标',
      'catalog.unit': '单位',
      'catalog.synonyms': '同义词',
      'catalog.dimensions': '可按维度拆分',
      'catalog.grains': '时间粒度',
      'catalog.defaultPeriod': '默认期间',
      'catalog.ask': '用这个指标提问',
      'catalog.exampleQuestion': '{label}是多少？',
      'unit.yuan': '元',
      'unit.percent': '%',
      'unit.count': '个',
      'grain.day': '日',
      'grain.week': '周',
      'grain.month': '月',
      'grain.quarter': '季',
      'grain.year': '年',
      'period.reference_date': '数据日期当天',
      'period.reference_month': '数据日期所在月',
      'period.year_to_date': '年初至数据日期',
      'money.hundredMillion': '{value} 亿元',
      'money.tenThousand': '{value} 万元',
      'money.yuan': '{value} 元',
      'axis.tenThousand': '万元',
      'axis.unit': '单位：{unit}',
    },
    en: {
      'page.title': 'Wenshu · metrics assistant',
      'app.title': 'Wenshu',
      'app.subtitle': 'Meizhou · ask your metrics',
      'nav.label': 'Views',
      'nav.chat': 'Chat',
      'nav.catalog': 'Metric catalog',
      'action.newConversation': 'New chat',
      'action.newConversationLabel': 'Clear this conversation and start a new one',
      'action.signOut': 'Sign out',
      'action.signOutLabel': 'Sign out and clear the token and conversation stored on this device',
      'signIn.heading': 'Sign in with a token',
      'signIn.intro': 'Access control is on. Enter your access token.',
      'signIn.tokenLabel': 'Access token',
      'signIn.submit': 'Sign in',
      'signIn.hint': 'Your administrator issues tokens. Ask them when you have none or yours no longer works.',
      'signIn.checking': 'Checking the token…',
      'signIn.empty': 'Enter your access token.',
      'signIn.invalidCharacters': 'A token contains only Latin letters, digits and symbols. Check it and enter it again.',
      'signIn.unauthorized': 'The token is invalid or has expired. Sign in again.',
      'language.toggle': '中文',
      'language.toggleLabel': '切换到中文',
      'input.placeholder': 'Ask about a metric or a banking task, e.g. deposit balance by branch',
      'input.label': 'Your question',
      'input.send': 'Send',
      'input.sendLabel': 'Send the question',
      'empty.heading': 'Hello, I am Wenshu',
      'empty.intro': 'Ask about deposit metrics in one sentence, or ask how to do something in e-banking.',
      'empty.metricExamples': 'Metric examples',
      'empty.faqExamples': 'Common questions',
      'turn.you': 'Your question',
      'turn.assistant': 'Answer from Wenshu',
      'stage.understanding': 'Understanding',
      'stage.compiling': 'Building the query',
      'stage.querying': 'Querying data',
      'stage.answering': 'Writing the answer',
      'stage.waiting': 'Working…',
      'answer.rewritten': 'Understood as: {text}',
      'answer.referenceDate': 'Data date {date}',
      'answer.period': 'Period {period}',
      'answer.periodRange': '{start} to {end}',
      'answer.definitions': 'Definition',
      'answer.sql': 'SQL',
      'answer.copySql': 'Copy SQL',
      'answer.copyTable': 'Copy table',
      'answer.copied': 'Copied',
      'answer.copyFailed': 'Copy failed, please select and copy by hand',
      'answer.downloadCsv': 'Download CSV',
      'answer.downloadXlsx': 'Download Excel',
      'answer.downloadGone': 'This result is no longer kept on the server. Ask again, then download.',
      'answer.chartLabel': 'Chart of {label}',
      'answer.tableLabel': 'Query result table',
      'answer.sortAscending': 'ascending',
      'answer.sortDescending': 'descending',
      'answer.sortBy': 'Sort by “{label}”',
      'answer.showAllRows': 'Show all {count} rows',
      'answer.rowsShown': '{count} rows',
      'answer.suggestions': 'Ask next',
      'answer.faqQuestion': 'Matched question: {question}',
      'answer.faqRelated': 'Related questions',
      'answer.phrasing': 'The model is writing an answer from the knowledge base (each sentence checked before it shows)…',
      'answer.phrasingRejected': 'The model\'s answer did not pass the checks and is not shown. The knowledge-base entry follows.',
      'answer.phrased': 'Answer written by the model (from entries: {sources})',
      'answer.entryText': 'Knowledge-base entry',
      'answer.feedbackLabel': 'Was this answer helpful?',
      'answer.feedbackUp': 'Helpful',
      'answer.feedbackDown': 'Not helpful',
      'answer.feedbackThanks': 'Recorded, thank you',
      'answer.feedbackFailed': 'Feedback was not recorded, please try again later',
      'answer.noData': 'No data',
      'error.title': 'Something went wrong',
      'error.network': 'Cannot reach the Wenshu service. Check the network and try again.',
      'error.server': 'The service is unavailable (HTTP {status}). Please try again later.',
      'error.timeout': 'The answer timed out. Please try again later.',
      'error.badResponse': 'The service sent a response the page cannot read.',
      'error.retry': 'Ask again',
      'error.retryAfter': 'Try again in {seconds} s.',
      'catalog.heading': 'Metric catalog',
      'catalog.intro': '{count} metrics, data date {date}. Click a metric to fill in an example question.',
      'catalog.searchLabel': 'Search metrics',
      'catalog.searchPlaceholder': 'Search by name, synonym or definition',
      'catalog.back': 'Back to chat',
      'catalog.loading': 'Loading the metric catalog…',
      'catalog.loadFailed': 'The metric catalog failed to load: {message}',
      'catalog.noMatch': 'No metric matches “{query}”.',
      'catalog.matchCount': 'Showing {shown} of {count} metrics',
      'catalog.unit': 'Unit',
      'catalog.synonyms': 'Synonyms',
      'catalog.dimensions': 'Break down by',
      'catalog.grains': 'Time grains',
      'catalog.defaultPeriod': 'Default period',
      'catalog.ask': 'Ask with this metric',
      'catalog.exampleQuestion': 'What is the {label}?',
      'unit.yuan': 'yuan',
      'unit.percent': '%',
      'unit.count': 'count',
      'grain.day': 'day',
      'grain.week': 'week',
      'grain.month': 'month',
      'grain.quarter': 'quarter',
      'grain.year': 'year',
      'period.reference_date': 'the data date',
      'period.reference_month': 'the month of the data date',
      'period.year_to_date': 'year to date',
      'money.hundredMillion': '{value} hundred million yuan',
      'money.tenThousand': '{value} ten thousand yuan',
      'money.billion': '{value} billion yuan',
      'money.million': '{value} million yuan',
      'money.yuan': '{value} yuan',
      'axis.tenThousand': '10k yuan',
      'axis.unit': 'Unit: {unit}',
    },
  };

  function readStoredLanguage() {
    try {
      const stored = window.localStorage.getItem(STORAGE_KEY);
      return SUPPORTED.includes(stored) ? stored : 'zh';
    } catch (error) {
      // Storage can be blocked (private mode, policies), and then the page stays in Chinese.
      return 'zh';
    }
  }

  let language = readStoredLanguage();

  /** Returns the string for `key` in the current language with `{name}` placeholders filled. */
  function t(key, params) {
    const table = MESSAGES[language] || MESSAGES.zh;
    let text = key in table ? table[key] : MESSAGES.zh[key];
    if (text === undefined) {
      console.warn(`i18n: missing string ${key}`);
      return key;
    }
    if (params) {
      text = text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
    }
    return text;
  }

  /** Returns whether `key` has a string, so callers can fall back to server labels. */
  function has(key) {
    return key in MESSAGES.zh;
  }

  /**
   * Fills every element under `root` that carries data-i18n (text),
   * data-i18n-placeholder, data-i18n-aria-label or data-i18n-title.
   */
  function apply(root) {
    const scope = root || document;
    for (const element of scope.querySelectorAll('[data-i18n]')) {
      element.textContent = t(element.dataset.i18n);
    }
    for (const element of scope.querySelectorAll('[data-i18n-placeholder]')) {
      element.setAttribute('placeholder', t(element.dataset.i18nPlaceholder));
    }
    for (const element of scope.querySelectorAll('[data-i18n-aria-label]')) {
      element.setAttribute('aria-label', t(element.dataset.i18nAriaLabel));
    }
    for (const element of scope.querySelectorAll('[data-i18n-title]')) {
      element.setAttribute('title', t(element.dataset.i18nTitle));
    }
    document.documentElement.lang = language === 'zh' ? 'zh-CN' : 'en';
    document.title = t('page.title');
  }

  function getLanguage() {
    return language;
  }

  /** Switches the UI language, stores the choice and re-labels the static page. */
  function setLanguage(next) {
    if (!SUPPORTED.includes(next)) {
      throw new Error(`unsupported language ${next}: expected one of ${SUPPORTED.join(', ')}`);
    }
    language = next;
    try {
      window.localStorage.setItem(STORAGE_KEY, next);
    } catch (error) {
      console.warn('i18n: the language choice could not be stored', error);
    }
    apply(document);
  }

  window.WenshuI18n = Object.freeze({ t, has, apply, getLanguage, setLanguage });
})();
