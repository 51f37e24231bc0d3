import { chromium, type Browser, type Page } from "playwright-core";

/** Debian's chromium (`.ci/run` installs it), or `CHROMIUM_PATH`. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Headless Chromium as the browser tests run it (no sandbox, nothing fetched from the internet). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/**
 * A 1440x900 page whose script errors and console errors are pushed to `errors`. Its actions wait
 * 15 s at most (not Playwright's 30 s): one waiting for an element that never comes then fails
 * naming it, instead of using up the test's time inside a poll that calls it again.
 */
export async function openPage(browser: Browser, errors: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  return page;
}

/** Marks the document now shown, so that {@link wasReloaded} can tell whether the page reloaded since. */
export async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (globalThis as unknown as { postageTestMark?: boolean }).postageTestMark = true;
  });
}

/** Whether the document marked by {@link markDocument} was replaced (a reload loses the mark). */
export async function wasReloaded(page: Page): Promise<boolean> {
  return !(await page.evaluate(() => (globalThis as unknown as { postageTestMark?: boolean }).postageTestMark === true));
}
