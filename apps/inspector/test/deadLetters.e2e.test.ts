import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineExchange } from "@postage/core";
import { createInProcessSource, createInspectorServer, InspectionHub, type InspectionSource, type InspectorServer } from "@postage/inspector";
import { connect, createConsumer, createProducer, reject, type Broker, type Consumer } from "@postage/transport";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, launchChromium, nextChange, openPage } from "./browser.js";

const SCREENSHOTS = fileURLToPath(new URL("../screenshots/", import.meta.url));
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 15_000, interval: 50 });

describe.skipIf(!existsSync(CHROMIUM))("the inspector's dead-letter panel in headless Chromium (memory broker)", () => {
  const exchange = defineExchange({ name: "billing", type: "direct", durable: false });
  let broker: Broker;
  let consumer: Consumer;
  let hub: InspectionHub;
  let source: InspectionSource;
  let server: InspectorServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const queued = async (): Promise<number> => (await broker.driver.declareQueue({ name: "postage.dead-letter", passive: true })).messageCount;

  beforeAll(async () => {
    broker = connect({ url: `memory://dead-letter-panel-${process.pid}` });
    consumer = createConsumer(broker, { bindings: [[exchange, [["billing.charges", "charge"]]]] }, ({ message }) => {
      const amount = (message.content as { parameters?: { amount?: unknown } }).parameters?.amount;
      if (typeof amount !== "number") throw new TypeError("amount must be a number");
      if (amount > 1000) return reject(`amount ${amount} is over the 1000 limit`, "OVER_LIMIT");
      return "ack";
    });
    await consumer.ready();
    const producer = createProducer(broker, { commands: ["charge"], exchanges: [[exchange, "charge"]] });
    await producer.message.charge({ amount: 12 });
    await producer.message.charge({ amount: "twelve" });
    await producer.message.charge({ amount: 5000, customer: "ACME" });
    await producer.forward(new TextEncoder().encode("charge 12 EUR please"));
    await producer.close();
    while (consumer.counters.deadLettered < 3) await new Promise((resolve) => setTimeout(resolve, 5));

    hub = new InspectionHub();
    source = createInProcessSource((listener) => hub.subscribe(listener), { description: "in-process (dead-letter test)" });
    server = await createInspectorServer({ source, port: 0, deadLetters: { broker, cacheMs: 0 } });
    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
    await page.goto(server.url);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await source?.close();
    await consumer?.close();
    await broker?.close();
  });

  const rows = () => page.locator("#dead-letter-rows tr.dl-row");

  it("lists every dead letter with time, error, reason, original exchange and key and a body preview", async () => {
    await eventually(() => rows().count()).toBe(3);
    expect(await page.locator('[data-role="dead-letter-count"]').textContent()).toBe("3");
    const cells = await rows().evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")));
    expect(cells.map((c) => c[1])).toEqual(["HANDLER_ERROR", "OVER_LIMIT", "NOT_JSON"]);
    expect(cells[0]?.[2]).toBe("TypeError: amount must be a number");
    expect(cells[1]?.[2]).toBe("amount 5000 is over the 1000 limit");
    expect(cells.every((c) => c[3] === "billing/charge")).toBe(true);
    expect(cells[1]?.[4]).toBe('command charge {"parameters":{"amount":5000,"customer":"ACME"}}');
    expect(cells[2]?.[4]).toBe("charge 12 EUR please");
    expect(cells.every((c) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(c[0] ?? ""))).toBe(true);
    // The page's listings consumed nothing.
    expect(await queued()).toBe(3);
  });

  it("a click held across the panel's automatic refresh still opens the row", async () => {
    const row = rows().nth(2);
    const box = await row.boundingBox();
    if (box === null) throw new Error("the third dead letter is not drawn");
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    // The listing refreshes by itself every few seconds ("listed 12:00:05"): hold the press across one.
    const refreshed = await nextChange(page.locator("#dead-letters"));
    await refreshed();
    await page.mouse.up();
    await eventually(() => page.locator('.dl-detail [data-role="body"]').textContent()).toContain("charge 12 EUR please");
    await row.click(); // closed again for the tests below
    await eventually(() => page.locator(".dl-detail").count()).toBe(0);
  });

  it("a click shows one dead letter in full: facts, body and headers", async () => {
    await rows().nth(1).click();
    await eventually(() => page.locator('.dl-detail [data-role="body"]').textContent()).toContain('"customer": "ACME"');
    expect(await page.locator('.dl-detail [data-role="headers"]').textContent()).toContain('"x-postage-error": "OVER_LIMIT"');
    expect(await page.locator(".dl-detail .dl-facts").textContent()).toContain("a Postage consumer");
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.locator("#dead-letters").screenshot({ path: `${SCREENSHOTS}inspector-dead-letters.png` });
    await page.screenshot({ path: `${SCREENSHOTS}inspector-dead-letters-page.png` });
    expect(await queued()).toBe(3);
  });

  it("Refresh shows what was dead-lettered since; what was removed disappears", async () => {
    await rows().nth(1).click(); // close the detail
    const producer = createProducer(broker, { commands: ["charge"], exchanges: [[exchange, "charge"]] });
    await producer.message.charge({});
    await producer.close();
    await expect.poll(() => consumer.counters.deadLettered, { timeout: 10_000 }).toBe(4);
    await page.locator('[data-role="dead-letter-refresh"]').click();
    await eventually(() => rows().count()).toBe(4);
    await broker.driver.deleteQueue("postage.dead-letter");
    await page.locator('[data-role="dead-letter-refresh"]').click();
    await eventually(() => page.locator("#dead-letters").textContent()).toContain("does not exist yet: nothing was dead-lettered");
    expect(pageErrors).toEqual([]);
  });

  it("an inspector without a broker has no panel (and no error in the page)", async () => {
    const plain = await createInspectorServer({ source, port: 0 });
    try {
      expect((await fetch(new URL("api/dead-letters", plain.url))).status).toBe(204);
      const otherErrors: string[] = [];
      const other = await openPage(browser, otherErrors);
      const asked = other.waitForResponse((response) => response.url().includes("/api/dead-letters"));
      await other.goto(plain.url);
      expect((await asked).status()).toBe(204);
      expect(await other.locator("#dead-letters").isHidden()).toBe(true);
      expect(otherErrors).toEqual([]);
      await other.close();
    } finally {
      await plain.close();
    }
  });
});
