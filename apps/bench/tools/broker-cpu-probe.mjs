// broker-cpu-probe.mjs — the experiment behind apps/bench/README.md "Why rabbitmq-client costs the broker more".
// Plain JS on purpose (it pokes at library internals: rabbitmq-client's `_socket`, amqplib's `connection.stream`).
//
//   BROKER_PID=$(pgrep -f 'beam.smp.*-s rabbit boot') node apps/bench/tools/broker-cpu-probe.mjs rc:rc aq:aq rc:aq aq:rc aq:aq:ack50
//   env: NODELAY=0 (Nagle on), CORK=1 (coalesce rabbitmq-client socket writes within one tick)
//   config = PUBLISHER:CONSUMER[:shared][:ack50]   rc = rabbitmq-client, aq = amqplib
//
// Per config: 20,000 1 KB JSON messages, confirms, window 500, prefetch 100, 3 measured rounds (median):
// msg/s, broker and client CPU per message, and JS-level socket writes per message on each connection.
import amqp from "amqplib";
import net from "node:net";
import fs from "node:fs";
import { randomBytes } from "node:crypto";

const BROKER = Number(process.env.BROKER_PID);
const cpu = (pid) => { const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").slice(fs.readFileSync(`/proc/${pid}/stat`, "utf8").lastIndexOf(")") + 2).split(" "); return (Number(f[11]) + Number(f[12])) / 100; };
const writes = new WeakMap();
for (const m of ["write"]) { const orig = net.Socket.prototype[m]; net.Socket.prototype[m] = function (...a) { const c = writes.get(this) ?? { n: 0, bytes: 0 }; c.n++; c.bytes += a[0]?.length ?? 0; writes.set(this, c); return orig.apply(this, a); }; }
const url = "amqp://guest:guest@127.0.0.1:5672";
const payload = randomBytes(1024).toString("base64").slice(0, 997);
const body = (i) => ({ seq: i, payload });
const NODELAY = process.env.NODELAY !== "0";

async function rcConn() { const c = new Connection({ url, noDelay: NODELAY }); c.on("error", () => {}); await c.onConnect(5000, true);
  if (process.env.CORK === "1") { const s = c._socket; let corked = false; const w = s.write; s.write = function (...a) { if (!corked) { corked = true; s.cork(); process.nextTick(() => { corked = false; s.uncork(); }); } return w.apply(this, a); }; }
  return { c, sock: () => c._socket, close: () => c.close() }; }
async function aqConn() { const c = await amqp.connect(url, { noDelay: NODELAY }); c.on("error", () => {}); return { c, sock: () => c.connection.stream, close: () => c.close() }; }

// consumers: returns {setSink, close}
async function rcConsumer(conn, q) { let sink = () => {}; const cons = conn.c.createConsumer({ queue: q, queueOptions: { exclusive: true, autoDelete: true }, qos: { prefetchCount: 100 } }, () => { sink(); }); await new Promise((r) => cons.once("ready", r)); return { set: (f) => (sink = f), close: () => cons.close() }; }
async function aqConsumer(conn, q, ackEvery = 1) {
  let sink = () => {}; const ch = await conn.c.createChannel(); await ch.assertQueue(q, { exclusive: true, autoDelete: true }); await ch.prefetch(100);
  let k = 0;
  await ch.consume(q, (m) => { JSON.parse(m.content.toString()); if (++k % ackEvery === 0) ch.ack(m, true); sink(); });
  return { set: (f) => (sink = f), close: () => ch.close() };
}
async function rcPublisher(conn, q) { const p = conn.c.createPublisher({ confirm: true }); return { send: (i) => p.send({ routingKey: q }, body(i)), close: () => p.close() }; }
async function aqPublisher(conn, q) { const ch = await conn.c.createConfirmChannel(); return { send: (i) => new Promise((res, rej) => { ch.sendToQueue(q, Buffer.from(JSON.stringify(body(i))), { contentType: "application/json" }, (e) => (e ? rej(e) : res())); }), close: () => ch.close() }; }

async function run(pubLib, consLib, { n = 20000, window = 500, ackEvery = 1, shared = false } = {}) {
  const q = "inv." + randomBytes(4).toString("hex");
  const pc = pubLib === "rc" ? await rcConn() : await aqConn();
  const cc = shared && pubLib === consLib ? pc : consLib === "rc" ? await rcConn() : await aqConn();
  const cons = consLib === "rc" ? await rcConsumer(cc, q) : await aqConsumer(cc, q, ackEvery);
  const pub = pubLib === "rc" ? await rcPublisher(pc, q) : await aqPublisher(pc, q);
  const out = [];
  for (let round = 0; round < 4; round++) {
    let left = n; let done; const all = new Promise((r) => (done = r)); cons.set(() => { if (--left === 0) done(); });
    const w0p = { ...(writes.get(pc.sock()) ?? { n: 0, bytes: 0 }) }, w0c = { ...(writes.get(cc.sock()) ?? { n: 0, bytes: 0 }) };
    const b0 = cpu(BROKER), s0 = cpu(process.pid), t0 = performance.now();
    let next = 0; await Promise.all(Array.from({ length: window }, async () => { while (next < n) await pub.send(next++); }));
    await all;
    const secs = (performance.now() - t0) / 1000, b1 = cpu(BROKER), s1 = cpu(process.pid);
    const wp = writes.get(pc.sock()), wc = writes.get(cc.sock());
    if (round > 0) out.push({ rate: n / secs, brokerUs: ((b1 - b0) * 1e6) / n, clientUs: ((s1 - s0) * 1e6) / n, pubWrites: (wp.n - w0p.n) / n, consWrites: shared ? NaN : (wc.n - w0c.n) / n, pubBytes: (wp.bytes - w0p.bytes) / n, consBytes: shared ? NaN : (wc.bytes - w0c.bytes) / n });
  }
  await pub.close(); await cons.close(); await pc.close(); if (cc !== pc) await cc.close();
  const med = (k) => { const v = out.map((o) => o[k]).sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };
  console.log(`${(pubLib + "->" + consLib + (ackEvery > 1 ? ` ack/${ackEvery}` : "") + (shared ? " 1conn" : "") + (NODELAY ? "" : " nagle") + (process.env.CORK === "1" ? " cork" : "")).padEnd(24)} ${med("rate").toFixed(0).padStart(6)} msg/s  broker ${med("brokerUs").toFixed(0).padStart(3)} us/msg  client ${med("clientUs").toFixed(0).padStart(3)} us/msg  writes/msg pub ${med("pubWrites").toFixed(2)} (${med("pubBytes").toFixed(0)} B) cons ${med("consWrites").toFixed(2)} (${med("consBytes").toFixed(0)} B)`);
}
const configs = process.argv.slice(2);
for (const c of configs) { const [p, co, ...flags] = c.split(":"); await run(p, co, { ackEvery: flags.includes("ack50") ? 50 : 1, shared: flags.includes("shared"), window: flags.includes("w1") ? 1 : flags.includes("w5000") ? 5000 : 500 }); }
