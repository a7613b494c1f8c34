// UI smoke test in a real VS Code (code-server) driven by chromium: hover a call, open the trace
// panel through the command palette, apply the quick fix, and save screenshots.
import * as fs from "node:fs";
import * as path from "node:path";
import { log } from "./codeServer.mjs";

const STEP_TIMEOUT = 60000;

async function paletteCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  await input.fill(`>${title}`);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor({ timeout: STEP_TIMEOUT });
  await page.keyboard.press("Enter");
}

async function quickPick(page, text) {
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  await input.fill(text);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: text }).first().waitFor({ timeout: STEP_TIMEOUT });
  await page.keyboard.press("Enter");
}

async function goToLine(page, line) {
  await page.keyboard.press("Control+G");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  await input.fill(`:${line}`);
  await page.keyboard.press("Enter");
}

/** Returns true when every step passed; prints one ok / not ok line per step. */
export async function runUiSmoke(cs, workspace, artifacts) {
  const browser = await cs.browser();
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const source = fs.readFileSync(path.join(workspace, "shapes.py"), "utf8").split("\n");
  const assertLine = source.findIndex((l) => l.startsWith("assert average(")) + 1;
  const callLine = source.findIndex((l) => l.startsWith("assert rectangle_area(")) + 1;
  for (const old of fs.readdirSync(artifacts)) if (old.endsWith(".png")) fs.rmSync(path.join(artifacts, old));
  let allOk = true;
  const step = async (name, fn) => {
    const started = Date.now();
    try {
      await fn();
      console.log(`ok - [ui] ${name} (${Date.now() - started} ms)`);
    } catch (err) {
      allOk = false;
      console.log(`not ok - [ui] ${name}\n${err?.stack ?? err}`);
      await page.screenshot({ path: path.join(artifacts, `failure-${name.replace(/\W+/g, "-")}.png`) }).catch(() => undefined);
      throw err;
    }
  };
  try {
    await step("the workbench opens shapes.py with the extension running", async () => {
      await page.goto(cs.url(workspace));
      await page.locator(".monaco-workbench").waitFor({ timeout: STEP_TIMEOUT });
      await page.keyboard.press("Control+P");
      await quickPick(page, "shapes.py");
      await page.locator(".monaco-editor .view-lines", { hasText: "def rectangle_area" }).waitFor({ timeout: STEP_TIMEOUT });
      await page.locator(".statusbar-item", { hasText: /SemCoder: (ready|no model|generating)/ }).first().waitFor({ timeout: STEP_TIMEOUT });
    });

    await step("hovering a call shows its trace with the real return value", async () => {
      await goToLine(page, callLine);
      const token = page.locator(".view-line", { hasText: "assert rectangle_area(3, 4)" }).locator("span > span", { hasText: "rectangle_area" }).first();
      await token.waitFor({ timeout: STEP_TIMEOUT });
      const hover = page.locator(".monaco-hover-content", { hasText: "12" });
      const deadline = Date.now() + STEP_TIMEOUT;
      // The first hover may say "in progress"; move away and back like a user would.
      while (!(await hover.isVisible())) {
        if (Date.now() > deadline) throw new Error("no hover with the value 12");
        await page.mouse.move(5, 5);
        await token.hover();
        await page.waitForTimeout(1500);
      }
      await page.screenshot({ path: path.join(artifacts, "hover.png") });
      await page.keyboard.press("Escape");
    });

    await step("Trace function… opens the trace panel and streams the trace", async () => {
      await paletteCommand(page, "SemCoder: Trace function…");
      await quickPick(page, "average");
      const input = page.locator(".quick-input-widget input");
      await input.waitFor({ state: "visible", timeout: STEP_TIMEOUT });
      await input.fill("average([1, 2, 3])");
      await page.keyboard.press("Enter");
      const frame = page.frameLocator("iframe.webview.ready").frameLocator("#active-frame");
      await frame.locator('#phase[data-phase="done"]').waitFor({ timeout: STEP_TIMEOUT });
      const actual = await frame.locator("#actual-return").textContent();
      if (actual !== "3.0") throw new Error(`the panel shows actual return ${actual}`);
      await frame.locator("#monologue").waitFor({ timeout: STEP_TIMEOUT });
      if (await frame.locator("#rerun").isDisabled()) throw new Error("Re-run is disabled after the trace finished");
      await page.screenshot({ path: path.join(artifacts, "trace-panel.png") });
    });

    await step("the quick fix for the failing assert repairs the function", async () => {
      // Back to the editor group with shapes.py, on the failing assert's line.
      await page.locator(".tab", { hasText: "shapes.py" }).first().click();
      await goToLine(page, assertLine);
      await page.locator(".squiggly-error").first().waitFor({ timeout: STEP_TIMEOUT });
      await page.keyboard.press("Control+.");
      const item = page.locator(".action-widget .monaco-list-row", { hasText: "Repair with SemCoder" }).first();
      await item.waitFor({ timeout: STEP_TIMEOUT });
      await page.screenshot({ path: path.join(artifacts, "quick-fix-menu.png") });
      // A pointer-blocking overlay covers the menu: choose the row with the keyboard, like a user.
      for (let i = 0; i < 10 && !(await page.locator(".action-widget .monaco-list-row.focused", { hasText: "Repair with SemCoder" }).count()); i++) {
        await page.keyboard.press("ArrowDown");
      }
      await page.keyboard.press("Enter");
      await page.locator(".view-line", { hasText: "count = len(values)", hasNotText: "- 1" }).waitFor({ timeout: STEP_TIMEOUT });
      await page.locator(".squiggly-error").first().waitFor({ state: "detached", timeout: STEP_TIMEOUT });
      // VS Code keeps the menu's title: the extension says the resolved outcome itself.
      await page.locator(".notification-toast", { hasText: "SemCoder repaired the function" }).first().waitFor({ timeout: STEP_TIMEOUT });
      await page.screenshot({ path: path.join(artifacts, "quick-fix-applied.png") });
    });
    log(`screenshots in ${artifacts}`);
  } catch {
    /* the failing step already reported itself */
  } finally {
    await page.close().catch(() => undefined);
  }
  return allOk;
}
