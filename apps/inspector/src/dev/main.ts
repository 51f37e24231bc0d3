// Dev script: the inspector fed by a fake fleet through the in-process source.
//   npm run dev -w @postage/inspector -- [--port 7373] [--screenshot file.png]
import { parseArgs } from "node:util";
import { createInspectorServer } from "../createInspectorServer.js";
import { createInProcessSource } from "../createInProcessSource.js";
import { InspectionHub } from "../InspectionHub.js";
import { DEFAULT_FAKE_FLEET, FAKE_SHIPMENT_MACHINE, FakeFleet } from "./FakeFleet.js";

const { values } = parseArgs({
  options: { port: { type: "string", default: "7373" }, screenshot: { type: "string" } },
});

const hub = new InspectionHub();
const source = createInProcessSource((listener) => hub.subscribe(listener), { description: "in-process (fake fleet)" });
const inspector = await createInspectorServer({ source, port: Number(values.port) });
const fleet = new FakeFleet((event) => hub.emit(event));
for (const spec of DEFAULT_FAKE_FLEET) fleet.add(spec);
fleet.add({ id: "Sh1pMent0001", name: "shipment", host: "app-1", pid: "4500" });
fleet.addBehaviour("Sh1pMent0001", FAKE_SHIPMENT_MACHINE, ["received"]);
fleet.startHeartbeats();
fleet.autoplay();
// A little story: a group joined, a restart, one instance quits, one process dies.
const story: Array<[number, () => void]> = [
  [1500, () => fleet.joinGroup("Vq3kP0orders", "eu-west")],
  [2500, () => fleet.transition("Tz91Qinvoice", "restart", "restarting")],
  [3200, () => fleet.transition("Tz91Qinvoice", "ready", "running")],
  [3800, () => fleet.quit("Hh2sWmailer0")],
  [4200, () => fleet.vanish("x8LmZ2orders")],
  [1000, () => fleet.behave("Sh1pMent0001", "accept", ["handling", "handling.checking"])],
  [2000, () => fleet.behave("Sh1pMent0001", "checked", ["handling", "handling.fulfilment", "handling.fulfilment.payment", "handling.fulfilment.payment.due", "handling.fulfilment.packing", "handling.fulfilment.packing.picking"])],
  [3000, () => fleet.behave("Sh1pMent0001", "pay", ["handling", "handling.fulfilment", "handling.fulfilment.payment", "handling.fulfilment.payment.paid", "handling.fulfilment.packing", "handling.fulfilment.packing.picking"])],
];
for (const [delay, step] of story) setTimeout(step, delay).unref();
process.stdout.write(`inspector on ${inspector.url}\n`);

const shutdown = async (): Promise<void> => {
  fleet.stop();
  await inspector.close();
  await source.close();
};

if (values.screenshot !== undefined) {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const [width = 1440, height = 900] = (process.env.SHOT_SIZE ?? "").split("x").filter(Boolean).map(Number);
    const page = await browser.newPage({ viewport: { width, height } });
    await page.goto(`${inspector.url}#${process.env.SHOT_SELECT ?? "Vq3kP0orders"}`);
    // Long enough for the story above and the vanish timeout (3 heartbeats of 2 s).
    await page.waitForTimeout(Number(process.env.SHOT_DELAY_MS ?? 11_000));
    await page.screenshot({ path: values.screenshot });
    // A close-up of the state machine panel, to judge the diagram at full size.
    await page.locator("#detail").screenshot({ path: values.screenshot.replace(/\.png$/, "") + "-detail.png" });
    process.stdout.write(`screenshot saved to ${values.screenshot}\n`);
  } finally {
    await browser.close();
  }
  await shutdown();
} else {
  process.once("SIGINT", () => void shutdown()); // deliberate: the process ends when the server closes
  process.once("SIGTERM", () => void shutdown());
}
