// The inspector end to end, as a person uses it: demo applications running on RabbitMQ in one
// process, `postage inspect` in another, the page in headless Chromium, and `postage join` /
// `postage quit` run as processes; the page follows without a reload.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { connect } from "@postage/transport";
import { CHROMIUM, launchChromium, markDocument, openPage, wasReloaded } from "./browser.js";
import { demo, ensureBuilt, killAll, type Program, postage, RABBIT_URL, randomName } from "../../demos/test/processes.js";
import { startInspectorCli } from "./inspectorCli.js";

const SCREENSHOTS = fileURLToPath(new URL("../screenshots/", import.meta.url));
// Generous: announces come with heartbeats (every 2 s) and a slow machine may take a while; polls end as soon as they pass.
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 30_000, interval: 100 });

/** What a component's card on the page says. */
interface Card {
  actorId: string;
  name: string;
  state: string;
  status: string;
  groups: string[];
  addresses: string;
}

describe.skipIf(!existsSync(CHROMIUM) || process.env.POSTAGE_SKIP_RABBIT === "1")("inspector page, demo applications and the postage command on RabbitMQ", () => {
  // The applications' exchange and names are ours alone; `postage.inspect` is shared with any other
  // test running meanwhile, so everything below only looks at components carrying our prefix.
  const apps = {
    POSTAGE_URL: RABBIT_URL,
    POSTAGE_DEMO_APP_EXCHANGE: randomName("inspector-apps"),
    POSTAGE_DEMO_APP_PREFIX: `${randomName("insp")}-`,
  };
  const prefix = apps.POSTAGE_DEMO_APP_PREFIX;
  const monitor = `${prefix}monitor`;
  const logger = `${prefix}logger`;
  const onApps = ["--exchange", apps.POSTAGE_DEMO_APP_EXCHANGE];
  let fleet: Program;
  let browser: Browser | undefined;
  let page: Page;
  let lonely: Card | undefined;
  const pageErrors: string[] = [];

  /**
   * Our components' cards, read from the page as a person would read them: in one evaluation, so
   * a redraw (or another test's component appearing) never mixes two cards' fields.
   */
  const ours = (): Promise<Card[]> =>
    page.evaluate((namePrefix) => {
      // The test's compiler has no DOM types: the little of the DOM used here, declared.
      interface Node {
        dataset: Record<string, string | undefined>;
        textContent: string | null;
        querySelector(selector: string): Node | null;
        querySelectorAll(selector: string): Iterable<Node>;
      }
      const { document } = globalThis as unknown as { document: Node };
      const text = (card: Node, role: string): string => card.querySelector(`[data-role="${role}"]`)?.textContent ?? "";
      return [...document.querySelectorAll(".component")]
        .map((card) => ({
          actorId: card.dataset.actorId ?? "",
          name: text(card, "name"),
          state: text(card, "state"),
          status: card.dataset.status ?? "",
          groups: [...card.querySelectorAll('[data-role="groups"] .chip')].map((chip) => chip.textContent ?? ""),
          addresses: text(card, "addresses"),
        }))
        .filter((card) => card.name.startsWith(namePrefix))
        .sort((a, b) => a.name.localeCompare(b.name) || a.actorId.localeCompare(b.actorId));
    }, prefix);
  const cardOf = async (actorId: string): Promise<Card | undefined> => (await ours()).find((card) => card.actorId === actorId);
  const screenshot = async (name: string): Promise<void> => {
    // Other tests' components may share the list (postage.inspect is shared): show ours.
    await page.locator(".component.selected").scrollIntoViewIfNeeded();
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOTS}${name}.png` });
  };

  beforeAll(async () => {
    ensureBuilt();
    // The inspector first, so it sees the applications announce themselves as they start.
    const url = await startInspectorCli();
    fleet = demo(["generic-app", "receive"], apps);
    await fleet.waitFor(/receiver ready/, { timeout: 30_000 });

    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
    await page.goto(url);
    await markDocument(page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await killAll();
    const broker = connect({ url: RABBIT_URL, shared: false });
    try {
      const host = hostname();
      for (const name of [monitor, logger]) {
        for (const queue of [`${name}/rr`, `${name}@${host}/rr`, `${name}#blue/rr`, `${name}#green/rr`]) {
          await broker.driver.deleteQueue(queue).catch(() => undefined);
        }
      }
      await broker.driver.deleteExchange(apps.POSTAGE_DEMO_APP_EXCHANGE).catch(() => undefined);
    } finally {
      await broker.close();
    }
  });

  it("lists the demo applications, running, with their groups", async () => {
    await eventually(async () => (await ours()).map((card) => `${card.name} ${card.state} ${card.status}`)).toEqual([
      `${logger} running live`,
      `${monitor} running live`,
      `${monitor} running live`,
    ]);
    const cards = await ours();
    expect(cards.find((card) => card.name === logger)?.groups).toEqual(["blue"]);
    expect(cards.filter((card) => card.name === monitor).map((card) => card.groups.join(",")).sort()).toEqual(["", "blue"]);
    expect(cards.find((card) => card.name === logger)?.addresses).toContain(`${logger}#blue/rr`);
    // The monitor in no group is the one the rest of the test drives; show its state machine.
    lonely = cards.find((card) => card.name === monitor && card.groups.length === 0);
    await page.locator(`.component[data-actor-id="${lonely?.actorId}"]`).click();
    await eventually(() => page.locator("#diagram .node.current").getAttribute("data-state")).toBe("running");
    await screenshot("fleet-1-running");
  });

  it("shows the group `postage join` adds, without a reload", async () => {
    const actorId = lonely?.actorId ?? "";
    expect(actorId).not.toBe("");
    const joined = await postage(["join", `id:${actorId}`, "green", ...onApps]);
    expect(joined.code, joined.stderr).toBe(0);
    await eventually(async () => (await cardOf(actorId))?.groups).toEqual(["green"]);
    expect((await cardOf(actorId))?.addresses).toContain(`${monitor}#green/rr`);
    expect((await cardOf(actorId))?.state).toBe("running");
    expect(await wasReloaded(page)).toBe(false);
    await screenshot("fleet-2-joined");
  });

  it("shows the state `postage quit` leaves, without a reload, and keeps the others running", async () => {
    const actorId = lonely?.actorId ?? "";
    const quit = await postage(["quit", `id:${actorId}`, ...onApps]);
    expect(quit.code, quit.stderr).toBe(0);
    await eventually(async () => (await cardOf(actorId))?.status).toBe("stopped");
    expect((await cardOf(actorId))?.state).toBe("stopped");
    expect(await page.locator(`.component[data-actor-id="${actorId}"] [data-role="status"]`).textContent()).toMatch(/stopped/);
    // The selected component's diagram follows: its final state is now the current one.
    await eventually(() => page.locator("#diagram .node.current").getAttribute("data-state")).toBe("stopped");
    // The last transitions, newest first, named as a person would (not XState's internal event names).
    await eventually(() => page.locator("#transitions li .event").allTextContents()).toEqual(["done", "quit", "done", "start"]);
    // Still listed, not dropped; the other two still run.
    const others = (await ours()).filter((card) => card.actorId !== actorId);
    expect(others.map((card) => `${card.name} ${card.state} ${card.status}`)).toEqual([`${logger} running live`, `${monitor} running live`]);
    expect(await wasReloaded(page)).toBe(false);
    await screenshot("fleet-3-quit");
  });

  it("ran without script errors in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
