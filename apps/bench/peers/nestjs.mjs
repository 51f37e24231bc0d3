// NestJS 12 microservices over RabbitMQ (Transport.RMQ), as a bench contender (see ../src/Contender.ts).
// Plain JavaScript, so decorators are applied by hand: this folder is installed on demand and the
// workspace's type-check must not depend on it.
import "reflect-metadata";
import { Controller, Logger, Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ClientRMQ, Ctx, EventPattern, MessagePattern, Payload, Transport } from "@nestjs/microservices";
import { lastValueFrom } from "rxjs";
import { timeCalls } from "../dist/runConcurrently.js";
import { createBodyFactory, randomSuffix } from "../dist/settings.js";
import { EventRun } from "./events.mjs";

// Nest logs every connect and disconnect through its static logger; the bench's stderr is for progress.
Logger.overrideLogger(false);

/**
 * A Nest microservice (one RMQ queue, a connection of its own) with a `@MessagePattern("echo")` and an
 * `@EventPattern("bench.event")` handler, called through a `ClientRMQ` in the same process: `send` for
 * RPC (direct reply-to), `emit` for events. ClientRMQ publishes on amqp-connection-manager's confirm
 * channel, so `emit` resolves on the broker's confirm.
 *
 * `manualAcks`: `noAck: false`, prefetch 100, TCP no-delay, and each handler acks its message when it
 * is done. Otherwise Nest's defaults: the broker auto-acks on delivery, no prefetch limit, no socket options.
 *
 * @param {{ key: string, label: string, manualAcks: boolean }} mode
 * @returns {import("../src/Contender.js").ContenderFactory}
 */
export function nestContender({ key, label, manualAcks }) {
  return {
    key,
    label,
    async open(settings) {
      const queue = `bench.nestjs.${randomSuffix()}`;
      const queueOptions = { durable: false, autoDelete: true };
      const socketOptions = manualAcks ? { connectionOptions: { noDelay: true } } : undefined;
      const events = new EventRun(settings);
      const ack = (ctx) => {
        if (manualAcks) ctx.getChannelRef().ack(ctx.getMessage());
      };

      class BenchController {
        echo(data, ctx) {
          ack(ctx);
          return data;
        }
        onEvent(data, ctx) {
          if (typeof data?.seq !== "number") throw new Error("body not decoded");
          events.tick();
          ack(ctx);
        }
      }
      const decorate = (method, decorator) => {
        const descriptor = Object.getOwnPropertyDescriptor(BenchController.prototype, method);
        decorator(BenchController.prototype, method, descriptor);
        Payload()(BenchController.prototype, method, 0);
        Ctx()(BenchController.prototype, method, 1);
      };
      decorate("echo", MessagePattern("echo"));
      decorate("onEvent", EventPattern("bench.event"));
      Controller()(BenchController);
      class BenchModule {}
      Module({ controllers: [BenchController] })(BenchModule);

      const app = await NestFactory.createMicroservice(BenchModule, {
        transport: Transport.RMQ,
        logger: false,
        options: {
          urls: [settings.url],
          queue,
          queueOptions,
          ...(manualAcks && { noAck: false, prefetchCount: settings.prefetch }),
          ...(socketOptions && { socketOptions }),
        },
      });
      await app.listen();
      const client = new ClientRMQ({ urls: [settings.url], queue, queueOptions, ...(socketOptions && { socketOptions }) });
      try {
        await client.connect();
      } catch (error) {
        await Promise.allSettled([client.close(), app.close()]);
        throw error;
      }
      let closed;
      return {
        throughput(n) {
          return events.time(n, (b) => lastValueFrom(client.emit("bench.event", b), { defaultValue: undefined }));
        },
        async rpcConcurrent(n, inFlight) {
          const body = createBodyFactory(settings.bodyBytes);
          return timeCalls(n, inFlight, async (i) => {
            const res = await lastValueFrom(client.send("echo", body(i)));
            if (res?.seq !== i) throw new Error(`rpc reply ${i} mismatched`);
          });
        },
        close() {
          closed ??= (async () => {
            await client.close();
            await app.close();
          })();
          return closed;
        },
      };
    },
  };
}
