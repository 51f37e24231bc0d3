// The inspector watching a component's own state machine, as a person uses it: the order demo
// receiving on RabbitMQ in one process, `postage inspect` in another, the page in headless
// Chromium, and the order driven with `postage rpc`: the page follows it through its states.
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, launchChromium, markDocument, openPage, wasReloaded } from "./browser.js";
import { isolatedOrderDemo } from "../../demos/test/orderDemo.js";
import { demo, ensureBuilt, killAll, type Program, postage } from "../../demos/test/processes.js";
import { startInspectorCli } from "./inspectorCli.js";

const SCREENSHOTS = fileURLToPath(new URL("../screenshots/", import.meta.url));
// Generous: a slow machine may take a while; polls end as soon as they pass.
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 30_000, interval: 100 });

describe.skipIf(!existsSync(CHROMIUM) || process.env.POSTAGE_SKIP_RABBIT === "1")("inspector page watching the order demo's machine on RabbitMQ", () => {
  const orderDemo = isolatedOrderDemo("inspector-order");
  const { env, order } = orderDemo;
  let receiver: Program;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  const call = async (command: string, params: unknown): Promise<string> => {
    const result = await postage(["rpc", env.POSTAGE_DEMO_APP_EXCHANGE, order, command, JSON.stringify(params), "--timeout", "10000"]);
    return `${result.code} ${result.stdout}${result.stderr}`;
  };
  const current = () => page.locator("#behaviour-diagram .node.current").evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-state")));
  const screenshot = async (name: string): Promise<void> => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOTS}${name}.png` });
    await page.locator("#detail").screenshot({ path: `${SCREENSHOTS}${name}-detail.png` });
  };

  beforeAll(async () => {
    ensureBuilt();
    const url = await startInspectorCli();
    receiver = demo(["order", "receive"], env);
    await receiver.waitFor(/order receiver ready/, { timeout: 30_000 });
    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
    await page.goto(url);
    await markDocument(page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await killAll();
    await orderDemo.remove();
  });

  it("draws the order's machine nested, beside its lifecycle, in its first state", async () => {
    const card = page.locator(".component", { has: page.locator(`[data-role="name"]`, { hasText: order }) });
    await eventually(() => card.count()).toBe(1);
    await card.click();
    await eventually(current).toEqual(["idle"]);
    await eventually(() => page.locator("#diagram .node.current").getAttribute("data-state")).toBe("running");
    // `open` is a box holding pending and paid.
    expect(await page.locator('#behaviour-diagram [data-state="open"]').getAttribute("class")).toContain("compound");
    const open = await page.locator('#behaviour-diagram [data-state="open"] rect').first().boundingBox();
    const pending = await page.locator('#behaviour-diagram [data-state="open.pending"] rect').first().boundingBox();
    expect(open && pending && pending.x > open.x && pending.y > open.y && pending.x + pending.width < open.x + open.width).toBe(true);
    expect(await card.locator('[data-role="behaviour-state"]').textContent()).toBe("idle");
    await screenshot("order-1-idle");
  });

  it("follows the order live as it is placed, refused a ship, paid and shipped", async () => {
    expect(await call("place", { orderId: "UI-1", items: [{ sku: "tea", quantity: 1, price: 3 }] })).toMatch(/^0 /);
    await eventually(current).toEqual(["open.pending"]);
    // The enclosing box is active too.
    expect(await page.locator('#behaviour-diagram [data-state="open"]').getAttribute("class")).toContain("active");
    expect(await page.locator("#behaviour-transitions li").first().textContent()).toContain("place");
    await screenshot("order-2-pending");

    // Refused: the caller hears why, and the machine does not move.
    expect(await call("ship", {})).toMatch(/cannot ship in state pending/);
    expect(await call("pay", { amount: 3 })).toMatch(/^0 /);
    await eventually(current).toEqual(["open.paid"]);
    expect(await page.locator("#behaviour-transitions li").first().textContent()).toMatch(/pay.*pending → paid/s);
    await screenshot("order-3-paid");

    expect(await call("ship", { trackingId: "T-1" })).toMatch(/^0 /);
    await eventually(current).toEqual(["shipped"]);
    // The last transition is drawn as such; the lifecycle did not move; the page never reloaded.
    expect(await page.locator('#behaviour-diagram .edge.last[data-from="open.paid"][data-to="shipped"]').count()).toBe(1);
    expect(await page.locator("#diagram .node.current").getAttribute("data-state")).toBe("running");
    const card = page.locator(".component", { has: page.locator(`[data-role="name"]`, { hasText: order }) });
    expect(await card.locator('[data-role="behaviour-state"]').textContent()).toBe("shipped");
    expect(await wasReloaded(page)).toBe(false);
    // Newest first, each named after the message that caused it.
    expect(await page.locator("#behaviour-transitions li .event").allTextContents()).toEqual(["ship", "pay", "place"]);
    await screenshot("order-4-shipped");
  });

  it("ran without script errors in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
