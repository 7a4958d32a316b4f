// Watches the status page in headless Chromium while a real interview lives and dies, the way an
// interviewer would leave it open in a tab. Used by prequel-bot's status_page test.
//
// Usage: PREQUEL_TEST_TOKEN=… PREQUEL_PLAYWRIGHT_CORE=/path/to/node_modules/playwright-core \
//          node status.mjs URL SCREENSHOT.png
// The admin token comes from the environment so it never shows in `ps`.
//
// The conversation with the test, one line each way at a time:
//   script → "ready"        signed in through the form; the page is live and being recorded
//   test   → "<id>"         (stdin) the interview it just asked for
//   script → "active"       the row reached `active`; SCREENSHOT.png is saved
//   (the test destroys the interview)
//   script → {…}            one JSON line: what was seen, once the row reached `destroyed`
// On a failure the script prints {"error": …} (with whatever was seen) and exits 1.

import { createInterface } from 'node:readline';

const [url, screenshot] = process.argv.slice(2);
const token = process.env.PREQUEL_TEST_TOKEN;
const playwrightPath = process.env.PREQUEL_PLAYWRIGHT_CORE;
if (!url || !screenshot || !token || !playwrightPath) {
  console.error('usage: PREQUEL_TEST_TOKEN=… PREQUEL_PLAYWRIGHT_CORE=… node status.mjs URL SCREENSHOT');
  process.exit(2);
}
const LIFE_TIMEOUT = 150_000; // provisioning real code-server on a shared 2-core machine

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const { chromium } = await import(`${playwrightPath}/index.mjs`);
const browser = await chromium.launch({
  executablePath: process.env.PREQUEL_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Flags measured to work as root on these machines (see shared/NOTES-environment.md).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const seen = { consoleErrors: [], loads: 0, navigations: 0 };
let page;
try {
  page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  page.on('console', (message) => {
    if (message.type() === 'error') seen.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => seen.consoleErrors.push(`uncaught: ${error.message}`));
  page.on('load', () => { seen.loads += 1; });
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) seen.navigations += 1; });

  // Sign in once with the token, through the form a person would use.
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.fill('input[type="password"]', token);
  await Promise.all([
    page.waitForURL(url),
    page.click('button[type="submit"]'),
  ]);
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: 30_000 });
  await page.waitForLoadState('load');
  const loadsAtReady = seen.loads;
  const navigationsAtReady = seen.navigations;

  // Record every state each row shows: a MutationObserver sees each change as it is made, and a
  // 50 ms poll backs it up. A variable on `window` tells whether the document was ever replaced.
  await page.evaluate(() => {
    window.__sameDocument = true;
    window.__states = {};
    const record = () => {
      for (const body of document.querySelectorAll('tbody[data-interview-id]')) {
        const states = (window.__states[body.dataset.interviewId] ||= []);
        if (states[states.length - 1] !== body.dataset.state) states.push(body.dataset.state);
      }
    };
    new MutationObserver(record).observe(document.body, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'],
    });
    setInterval(record, 50);
    record();
  });
  console.log('ready');

  const { value: line } = await stdin.next();
  const id = (line || '').trim();
  if (!/^[a-z0-9]{12}$/.test(id)) throw new Error(`expected an interview id on stdin, got ${JSON.stringify(line)}`);
  const statesOf = () => page.evaluate((i) => window.__states[i] || [], id);

  await page.waitForFunction((i) => (window.__states[i] || []).includes('active'), id,
    { timeout: LIFE_TIMEOUT, polling: 50 });
  // Let the countdown and the log lines settle before the picture.
  await page.waitForTimeout(1500);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log('active');

  await page.waitForFunction((i) => (window.__states[i] || []).at(-1) === 'destroyed', id,
    { timeout: LIFE_TIMEOUT, polling: 50 });
  await page.click('#ended summary');
  await page.waitForTimeout(300);
  await page.screenshot({ path: screenshot.replace(/\.png$/, '-ended.png'), fullPage: true });

  const report = await page.evaluate(() => ({
    navigationEntries: performance.getEntriesByType('navigation').length,
    sameDocument: window.__sameDocument === true,
    connection: document.getElementById('connection').dataset.state,
    html: document.documentElement.outerHTML,
  }));
  console.log(JSON.stringify({
    id,
    states: await statesOf(),
    ...report,
    loadsAfterReady: seen.loads - loadsAtReady,
    navigationsAfterReady: seen.navigations - navigationsAtReady,
    consoleErrors: seen.consoleErrors,
  }));
} catch (error) {
  let states = null;
  try {
    states = await page.evaluate(() => window.__states);
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-failure.png'), fullPage: true });
  } catch (_) { /* the page itself may be gone */ }
  console.log(JSON.stringify({ error: String(error), states, consoleErrors: seen.consoleErrors }));
  process.exitCode = 1;
} finally {
  await browser.close();
  process.stdin.destroy();
}
