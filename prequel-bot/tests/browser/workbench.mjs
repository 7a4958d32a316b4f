// Logs in to a code-server instance in headless Chromium, waits for the VS Code workbench, and
// reports what its file explorer shows, with a screenshot — what an interviewer would check by
// eye. Used by prequel-bot's end-to-end test.
//
// Usage: PREQUEL_TEST_PASSWORD=… PREQUEL_PLAYWRIGHT_CORE=/path/to/node_modules/playwright-core \
//          node workbench.mjs URL SCREENSHOT.png
// The password comes from the environment so it never shows in `ps`.
// Prints one JSON line: {"login": "ok"|"refused", "files": [...], "title": "..."}.

const [url, screenshot] = process.argv.slice(2);
const password = process.env.PREQUEL_TEST_PASSWORD;
const playwrightPath = process.env.PREQUEL_PLAYWRIGHT_CORE;
if (!url || !screenshot || !password || !playwrightPath) {
  console.error('usage: PREQUEL_TEST_PASSWORD=… PREQUEL_PLAYWRIGHT_CORE=… node workbench.mjs URL SCREENSHOT');
  process.exit(2);
}

const { chromium } = await import(`${playwrightPath}/index.mjs`);
const browser = await chromium.launch({
  executablePath: process.env.PREQUEL_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Flags measured to work as root on these machines (see shared/NOTES-environment.md).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.fill('input[type="password"]', password);
  await Promise.all([
    page.waitForLoadState('domcontentloaded'),
    page.click('input[type="submit"], button[type="submit"]'),
  ]);
  const workbench = await page
    .waitForSelector('.monaco-workbench', { timeout: 60_000 })
    .then(() => true, () => false);
  if (!workbench) {
    await page.screenshot({ path: screenshot });
    console.log(JSON.stringify({ login: 'refused', files: [], title: await page.title() }));
    process.exit(0);
  }
  // The explorer fills in after the workbench appears; wait until it lists something.
  await page.waitForSelector('.explorer-folders-view [role="treeitem"]', { timeout: 60_000 });
  await page.waitForTimeout(1000);
  const files = await page.$$eval('.explorer-folders-view [role="treeitem"]',
    (items) => items.map((item) => item.getAttribute('aria-label') || item.textContent.trim()));
  await page.screenshot({ path: screenshot });
  console.log(JSON.stringify({ login: 'ok', files, title: await page.title() }));
} finally {
  await browser.close();
}
