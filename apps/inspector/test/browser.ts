import { chromium, type Browser, type Locator, type Page } from "playwright-core";

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

/** The page's MutationObserver, typed as far as {@link nextChange} uses it (the tests compile without the DOM library). */
type PageMutationObserver = new (callback: () => void) => { observe(node: unknown, options: object): void; disconnect(): void };

/**
 * Starts watching the element for its next change (a child, text or attribute of anything inside
 * it); the returned function resolves once that change happened, and rejects when none came
 * within `timeout` ms. For holding an interaction (a pressed mouse button) across a redraw.
 */
export async function nextChange(locator: Locator, timeout = 15_000): Promise<() => Promise<void>> {
  // In an object: a promise returned as it is would be awaited by evaluateHandle itself.
  const watch = await locator.evaluateHandle(
    (node, ms) => ({
      changed: new Promise<void>((resolve, reject) => {
        const Observer = (globalThis as unknown as { MutationObserver: PageMutationObserver }).MutationObserver;
        const observer = new Observer(() => {
          observer.disconnect();
          clearTimeout(timer);
          resolve();
        });
        const timer = setTimeout(() => {
          observer.disconnect();
          reject(new Error(`nothing changed within ${ms} ms`));
        }, ms);
        observer.observe(node, { subtree: true, childList: true, characterData: true, attributes: true });
      }),
    }),
    timeout,
  );
  return async () => {
    await watch.evaluate((watching) => watching.changed);
    await watch.dispose();
  };
}
