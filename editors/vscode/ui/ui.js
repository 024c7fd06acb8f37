// Drives VS Code (code-server) in Debian's Chromium with playwright-core: open a Python file,
// type, wait for the extension's inline completion (ghost text), screenshot, accept with Tab,
// open the context menu's tsr-lsp AI submenu, screenshot. Exits 1 when no ghost text came.
// Usage (run.sh sets it up): node ui.js URL FOLDER OUT_DIR
const { chromium } = require("playwright-core");

async function main() {
  const [url, folder, out] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  const log = [];
  page.on("console", (m) => log.push(m.text()));
  await page.goto(`${url}/?folder=${encodeURIComponent(folder)}`, { timeout: 120000 });
  await page.waitForSelector(".monaco-workbench", { timeout: 120000 });
  await page.waitForTimeout(5000);
  // trust dialog, if any
  const trust = page.getByRole("button", { name: /Yes, I trust/ });
  if (await trust.count()) {
    await trust.first().click();
  }
  await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "calc.py" }).first().click();
  await page.waitForSelector(".monaco-editor .view-lines", { timeout: 60000 });
  await page.waitForTimeout(3000);
  await page.click(".monaco-editor .view-lines");
  await page.keyboard.press("Control+End");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("End");
  await page.keyboard.type("return ", { delay: 80 });
  const result = { ghost: false };
  try {
    await page.waitForSelector(".ghost-text-decoration, .ghost-text", { timeout: 120000 });
    result.ghost = true;
    result.ghostText = await page.locator(".ghost-text-decoration, .ghost-text").first().innerText();
  } catch (e) {
    result.error = String(e);
  }
  await page.screenshot({ path: `${out}/vscode-inline.png` });
  if (result.ghost) {
    await page.keyboard.press("Tab");
    await page.waitForTimeout(1500);
  }
  result.lines = await page.locator(".monaco-editor .view-lines").first().innerText();
  result.status = await page.locator("#status\\.bar, .statusbar").first().innerText().catch(() => "");
  await page.screenshot({ path: `${out}/vscode-accepted.png` });
  // the context menu with the AI actions
  await page.click(".monaco-editor .view-lines", { button: "right" });
  await page.waitForTimeout(1000);
  const ai = page.getByText("tsr-lsp AI");
  if (await ai.count()) {
    await ai.first().hover();
    await page.waitForTimeout(1000);
  }
  await page.screenshot({ path: `${out}/vscode-menu.png` });
  result.consoleErrors = log.filter((l) => /tsr/i.test(l)).slice(-10);
  console.log(JSON.stringify(result));
  await browser.close();
  if (!result.ghost) {
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
