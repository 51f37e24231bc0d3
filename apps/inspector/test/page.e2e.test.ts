import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { createInProcessSource, createInspectorServer, InspectionHub, type InspectionSource, type InspectorServer } from "@postage/inspector";
import { DEFAULT_FAKE_FLEET, FakeFleet } from "../src/dev/FakeFleet.js";

// Debian's chromium; `.ci/run` installs it. Without it this browser test cannot run at all.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOTS = fileURLToPath(new URL("../screenshots/", import.meta.url));
// Generous: a slow machine may take a while to render, and polls end as soon as they pass.
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 15_000, interval: 50 });

describe.skipIf(!existsSync(CHROMIUM))("inspector page in headless Chromium (in-process source)", () => {
  let hub: InspectionHub;
  let source: InspectionSource;
  let server: InspectorServer;
  let fleet: FakeFleet;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    hub = new InspectionHub();
    source = createInProcessSource((listener) => hub.subscribe(listener), { description: "in-process (test fleet)" });
    server = await createInspectorServer({ source, port: 0 });
    fleet = new FakeFleet((event) => hub.emit(event), { heartbeatMs: 60_000 });
    for (const spec of DEFAULT_FAKE_FLEET) fleet.add(spec);
    fleet.message("Vq3kP0orders", "orders/rr", "create_order");
    fleet.message("Tz91Qinvoice", "invoices", "charge", "rejected", "KeyError: 'customer'");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const external: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(`http://127.0.0.1:${server.port}/`)) external.push(request.url());
    });
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(message.text());
    });
    await page.goto(`${server.url}#Vq3kP0orders`);
    expect(external).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    fleet?.stop();
    await server?.close();
    await source?.close();
  });

  const card = (actorId: string) => page.locator(`.component[data-actor-id="${actorId}"]`);

  it("lists every component with its state, addresses and counters", async () => {
    await eventually(() => page.locator(".component").count()).toBe(DEFAULT_FAKE_FLEET.length);
    const orders = card("Vq3kP0orders");
    expect(await orders.locator('[data-role="name"]').textContent()).toBe("orders");
    expect(await orders.locator('[data-role="state"]').textContent()).toBe("running");
    expect(await orders.locator('[data-role="groups"]').textContent()).toBe("billing");
    expect(await orders.locator('[data-role="addresses"]').textContent()).toContain("orders#billing/rr");
    expect(await card("Pp7cXaudit00").locator('[data-role="state"]').textContent()).toBe("consuming");
    // The message log shows the rejected message with its reason.
    await eventually(() => page.locator("#log tr.rejected").textContent()).toContain("KeyError");
  });

  it("draws the selected component's state machine with the current state highlighted", async () => {
    await eventually(() => page.locator('#diagram .node.current').getAttribute("data-state")).toBe("running");
    expect(await page.locator("#diagram .node").count()).toBe(6);
  });

  it("shows a new group and a stopped state without a reload", async () => {
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    fleet.joinGroup("Vq3kP0orders", "eu-west");
    await eventually(() => card("Vq3kP0orders").locator('[data-role="groups"]').textContent()).toBe("billingeu-west");
    expect(await card("Vq3kP0orders").locator('[data-role="addresses"]').textContent()).toContain("orders#eu-west/rr");

    fleet.quit("Vq3kP0orders");
    await eventually(() => card("Vq3kP0orders").getAttribute("data-status")).toBe("stopped");
    expect(await card("Vq3kP0orders").locator('[data-role="state"]').textContent()).toBe("stopped");
    expect(await card("Vq3kP0orders").locator('[data-role="status"]').textContent()).toMatch(/stopped/);
    // The diagram follows: the final state is now the current one.
    await eventually(() => page.locator('#diagram .node.current').getAttribute("data-state")).toBe("stopped");
    expect(await page.locator("#transitions li").first().textContent()).toContain("drained");
    // Still listed (greyed), not dropped; and the page never reloaded.
    expect(await page.locator(".component").count()).toBe(DEFAULT_FAKE_FLEET.length);
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);

    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOTS}inspector-e2e.png` });
  });

  it("filters the message log by component and routing key", async () => {
    // Poll on what the rows say, not only how many there are: the previous filter may also show two.
    const routingKeys = () => page.locator("#log tr td:nth-child(5)").allTextContents();
    const components = () => page.locator("#log tr td:nth-child(2)").allTextContents();
    await page.selectOption("#filter-component", "Tz91Qinvoice");
    await eventually(components).toEqual(["invoices", "invoices"]);
    await page.selectOption("#filter-component", "");
    await page.fill("#filter-key", "orders/");
    await eventually(routingKeys).toEqual(["orders/rr", "orders/rr"]);
    await page.fill("#filter-key", "");
  });

  it("ran without script errors in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
