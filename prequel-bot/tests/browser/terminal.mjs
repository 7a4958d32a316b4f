// Plays the candidate in headless Chromium: logs in to a code-server instance, opens VS Code's
// terminal, types a command and reports what the terminal shows, with a screenshot. Used by
// prequel-bot's end-to-end test of the sandbox ("cat the admin token: No such file").
//
// Usage: PREQUEL_TEST_PASSWORD=… PREQUEL_PLAYWRIGHT_CORE=/path/to/node_modules/playwright-core \
//          PREQUEL_TEST_COMMAND='cat /some/file' node terminal.mjs URL SCREENSHOT.png
// The password comes from the environment so it never shows in `ps`.
// Prints one JSON line: {"login": "ok"|"refused", "screen": "…the terminal's text…"}.

const [url, screenshot] = process.argv.slice(2);
const password = process.env.PREQUEL_TEST_PASSWORD;
const command = process.env.PREQUEL_TEST_COMMAND;
const playwrightPath = process.env.PREQUEL_PLAYWRIGHT_CORE;
if (!url || !screenshot || !password || !command || !playwrightPath) {
  console.error('usage: PREQUEL_TEST_PASSWORD=… PREQUEL_TEST_COMMAND=… PREQUEL_PLAYWRIGHT_CORE=… node terminal.mjs URL SCREENSHOT');
  process.exit(2);
}

const { chromium } = await import(`${playwrightPath}/index.mjs`);
const browser = await chromium.launch({
  executablePath: process.env.PREQUEL_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// The terminal's text. xterm.js's DOM renderer draws rows as text (the test turns GPU rendering
// off in the instance's settings, as a candidate may); its accessibility tree holds them too
// when a screen reader mode is on.
const screenText = (page) => page.evaluate(() => {
  const rows = document.querySelectorAll('.xterm-accessibility-tree div, .xterm-rows > div');
  return Array.from(rows).map((row) => row.textContent).join('\n');
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
    .waitForSelector('.monaco-workbench', { timeout: 90_000 })
    .then(() => true, () => false);
  if (!workbench) {
    await page.screenshot({ path: screenshot });
    console.log(JSON.stringify({ login: 'refused', screen: '' }));
    process.exit(0);
  }
  // Let the workbench settle, then open a terminal from the command palette: pick the command's
  // own row once the palette lists it (on a loaded machine the list filters late, and Enter
  // would run whatever was first), and try again if no terminal shows.
  await page.waitForSelector('.explorer-folders-view [role="treeitem"]', { timeout: 90_000 });
  let opened = false;
  for (let attempt = 0; attempt < 3 && !opened; attempt += 1) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Shift+P');
    await page.waitForSelector('.quick-input-widget input', { timeout: 30_000 });
    await page.keyboard.type('Terminal: Create New Terminal');
    const row = page
      .locator('.quick-input-list .monaco-list-row', { hasText: 'Create New Terminal' })
      .first();
    if (await row.waitFor({ timeout: 20_000 }).then(() => true, () => false)) {
      await row.click();
    } else {
      await page.keyboard.press('Enter');
    }
    opened = await page
      .waitForSelector('.xterm', { state: 'visible', timeout: 30_000 })
      .then(() => true, () => false);
  }
  if (!opened) {
    await page.screenshot({ path: screenshot });
    throw new Error(`no terminal opened after three tries (screenshot: ${screenshot})`);
  }
  // The shell's prompt shows once bash is up.
  const deadline = Date.now() + 60_000;
  while (!(await screenText(page)).includes('$') && Date.now() < deadline) {
    await page.waitForTimeout(250);
  }
  // A new terminal has the keyboard focus; click it all the same (an earlier session's terminal
  // may be restored beside it, hidden).
  await page.locator('.xterm:visible').last().click();
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
  await page.keyboard.type('echo prequel-end-of-output');
  await page.keyboard.press('Enter');
  let screen = '';
  const done = Date.now() + 30_000;
  while (Date.now() < done) {
    screen = await screenText(page);
    // The echo's output, not the typed command line: the marker alone on a line.
    if (screen.split('\n').some((line) => line.trim() === 'prequel-end-of-output')) break;
    await page.waitForTimeout(250);
  }
  await page.screenshot({ path: screenshot });
  console.log(JSON.stringify({ login: 'ok', screen }));
} finally {
  await browser.close();
}
