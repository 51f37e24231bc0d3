import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { CHROMIUM, launchChromium, markDocument, nextChange, openPage, wasReloaded } from "./browser.js";
import { createInProcessSource, createInspectorServer, InspectionHub, type InspectionSource, type InspectorServer } from "@postage/inspector";
import { DEFAULT_FAKE_FLEET, FAKE_SHIPMENT_MACHINE, FakeFleet } from "../src/dev/FakeFleet.js";

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
    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
    const external: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(`http://127.0.0.1:${server.port}/`)) external.push(request.url());
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
    await markDocument(page);
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
    expect(await wasReloaded(page)).toBe(false);

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

  it("keeps the component filter's options in place while messages arrive, not rebuilt on each", async () => {
    const filter = page.locator("#filter-component");
    const kept = await filter.evaluate((select) => {
      const marked = select.querySelectorAll("option");
      for (const option of marked) (option as unknown as { postageMark?: boolean }).postageMark = true;
      return marked.length;
    });
    expect(kept).toBe(DEFAULT_FAKE_FLEET.length + 1);
    const before = await page.locator("#log tr").count();
    fleet.message("Tz91Qinvoice", "invoices", "charge");
    await eventually(() => page.locator("#log tr").count()).toBeGreaterThan(before);
    const marks = await filter.evaluate((select) => [...select.querySelectorAll("option")].map((option) => (option as unknown as { postageMark?: boolean }).postageMark === true));
    expect(marks).toEqual(Array.from({ length: kept }, () => true));
  });

  it("keeps the message log's rows while messages arrive: a text selected in one stays selected", async () => {
    await page.selectOption("#filter-component", "");
    await page.fill("#filter-key", "");
    const selected = await page.locator("#log tr").first().evaluate((row) => {
      (row as unknown as { postageMark?: boolean }).postageMark = true;
      const selection = (globalThis as unknown as { getSelection(): { selectAllChildren(node: unknown): void; toString(): string } }).getSelection();
      selection.selectAllChildren(row.querySelector("td.message"));
      return selection.toString();
    });
    expect(selected).toContain("charge");
    const before = await page.locator("#log tr").count();
    fleet.message("Vq3kP0orders", "orders/rr", "create_order");
    await eventually(() => page.locator("#log tr").count()).toBeGreaterThan(before);
    // The new rows are on top; the row selected is the same element, lower now, its selection intact.
    const marks = await page.locator("#log tr").evaluateAll((rows) => rows.map((row) => (row as unknown as { postageMark?: boolean }).postageMark === true));
    expect(marks.filter(Boolean)).toHaveLength(1);
    expect(marks.indexOf(true)).toBe(marks.length - before);
    expect(await page.evaluate(() => (globalThis as unknown as { getSelection(): { toString(): string } }).getSelection().toString())).toBe(selected);
  });

  it("selects a card whose contents are redrawn between the press and the release of the click", async () => {
    // Cards are redrawn every second ("seen 3s ago") and on every event: a click held across a
    // redraw must still select, as it does for anyone who clicks while messages flow.
    const target = card("Tz91Qinvoice");
    const box = await target.locator('[data-role="name"]').boundingBox();
    if (box === null) throw new Error("the invoices card is not drawn");
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    // Watched from after the press: the redraw seen is one between the press and the release.
    const redrawn = await nextChange(target);
    fleet.message("Tz91Qinvoice", "invoices", "charge");
    await redrawn();
    await page.mouse.up();
    await eventually(() => target.getAttribute("aria-pressed")).toBe("true");
    expect(await page.locator("#detail-name .detail-id").textContent()).toBe("Tz91Qinvoice");
  });

  it("draws a behaviour machine's nested and parallel states nested, beside the lifecycle, fitted to the panel", async () => {
    fleet.add({ id: "Sh1pMent0001", name: "shipment", host: "app-1", pid: "4500" });
    fleet.addBehaviour("Sh1pMent0001", FAKE_SHIPMENT_MACHINE, ["received"]);
    await page.locator('.component[data-actor-id="Sh1pMent0001"]').click();
    const state = (path: string) => page.locator(`#behaviour-diagram [data-state="${path}"]`);
    await eventually(() => state("received").getAttribute("class")).toContain("current");
    // The lifecycle is still drawn, under it.
    await eventually(() => page.locator("#diagram .node.current").getAttribute("data-state")).toBe("running");

    const fulfilment = [
      "handling",
      "handling.fulfilment",
      "handling.fulfilment.payment",
      "handling.fulfilment.payment.paid",
      "handling.fulfilment.packing",
      "handling.fulfilment.packing.picking",
    ];
    fleet.behave("Sh1pMent0001", "accept", ["handling", "handling.checking"]);
    fleet.behave("Sh1pMent0001", "pay", fulfilment);
    await eventually(() => state("handling.fulfilment.payment.paid").getAttribute("class")).toContain("current");
    // Both regions of the parallel state are current at once; the boxes around them are active.
    expect(await state("handling.fulfilment.packing.picking").getAttribute("class")).toContain("current");
    expect(await state("handling.fulfilment").getAttribute("class")).toMatch(/\bparallel\b.*\bactive\b/);
    expect(await state("handling.fulfilment.payment").getAttribute("class")).toMatch(/\bregion\b/);
    expect(await state("received").getAttribute("class")).not.toContain("current");

    // Nested means drawn inside: each state's box lies within its parent's box.
    const box = async (path: string) => {
      const rect = await state(path).locator("rect").first().boundingBox();
      if (rect === null) throw new Error(`${path} is not drawn`);
      return rect;
    };
    const inside = (inner: { x: number; y: number; width: number; height: number }, outer: typeof inner) =>
      inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width + 0.5 && inner.y + inner.height <= outer.y + outer.height + 0.5;
    for (const [child, parent] of [
      ["handling.checking", "handling"],
      ["handling.fulfilment", "handling"],
      ["handling.fulfilment.payment", "handling.fulfilment"],
      ["handling.fulfilment.payment.paid", "handling.fulfilment.payment"],
      ["handling.fulfilment.packing.picking", "handling.fulfilment.packing"],
    ] as const) {
      expect(inside(await box(child), await box(parent)), `${child} inside ${parent}`).toBe(true);
    }
    expect(inside(await box("received"), await box("handling"))).toBe(false);
    // The transition list names the message that caused each behaviour step, briefly.
    expect(await page.locator("#behaviour-transitions li").first().textContent()).toContain("pay");
    expect(await page.locator("#behaviour-transitions li").first().textContent()).toContain("checking → paid, picking");
    expect(await page.locator('.component[data-actor-id="Sh1pMent0001"] [data-role="behaviour-state"]').textContent()).toContain("paid");

    // Wider than the panel: fitted, not cut off; zooming in makes it scroll instead.
    const panel = page.locator("#behaviour-diagram");
    const svgWidth = async () => (await panel.locator("svg").boundingBox())?.width ?? 0;
    const panelWidth = (await panel.boundingBox())?.width ?? 0;
    expect(await svgWidth()).toBeLessThanOrEqual(panelWidth);
    const fitted = await svgWidth();
    await panel.locator('button[data-zoom="in"]').click();
    await panel.locator('button[data-zoom="in"]').click();
    await eventually(svgWidth).toBeGreaterThan(fitted * 1.4);
    expect(await panel.locator(".diagram-scroll").evaluate((node) => node.scrollWidth > node.clientWidth)).toBe(true);
    await page.locator("#detail").screenshot({ path: `${SCREENSHOTS}inspector-behaviour-zoomed.png` });
    await panel.locator('button[data-zoom="fit"]').click();
    await eventually(svgWidth).toBeCloseTo(fitted, 0);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.locator("#detail").screenshot({ path: `${SCREENSHOTS}inspector-behaviour.png` });
  });

  it("zooms on a click held across a redraw of the diagram (a state change of the component shown)", async () => {
    const panel = page.locator("#behaviour-diagram");
    const scale = () => panel.locator("svg").getAttribute("data-scale");
    const fitted = Number(await scale());
    const zoomIn = panel.locator('button[data-zoom="in"]');
    const box = await zoomIn.boundingBox();
    if (box === null) throw new Error("no zoom button");
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    const redrawn = await nextChange(panel);
    fleet.behave("Sh1pMent0001", "pack", ["handling", "handling.fulfilment", "handling.fulfilment.payment", "handling.fulfilment.payment.paid", "handling.fulfilment.packing", "handling.fulfilment.packing.packed"]);
    await redrawn();
    await page.mouse.up();
    await eventually(async () => Number(await scale())).toBeGreaterThan(fitted * 1.2);
    await panel.locator('button[data-zoom="fit"]').click();
    await eventually(async () => Number(await scale())).toBeCloseTo(fitted, 2);
  });

  it("ran without script errors in the page", () => {
    expect(pageErrors).toEqual([]);
  });

  it("runs behind a token too (`--token`): its scripts, and the modules they import, are fetched with it", async () => {
    const guarded = await createInspectorServer({ source, port: 0, token: "s3cret" });
    const errors: string[] = [];
    const refused: string[] = [];
    const other = await openPage(browser, errors);
    other.on("response", (response) => {
      if (response.status() >= 400) refused.push(`${response.status()} ${response.url()}`);
    });
    try {
      await other.goto(guarded.url);
      // The page's script runs (it opens the event stream), and what the fleet says next shows.
      await eventually(() => other.locator("#connection").getAttribute("data-state")).toBe("live");
      fleet.announce("Vq3kP0orders");
      await eventually(() => other.locator('.component[data-actor-id="Vq3kP0orders"]').count()).toBe(1);
      expect(refused).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await other.close();
      await guarded.close();
    }
  });
});
