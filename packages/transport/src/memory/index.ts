// The in-memory broker's public surface; the package index re-exports from here.
export { MemoryBroker, type QueueDeclareResult } from "./MemoryBroker.js";
export { MemoryDriver, type MemoryDriverOptions } from "./MemoryDriver.js";
export { dropAllMemoryBrokers, dropMemoryBroker, getMemoryBroker, memoryDriver } from "./memoryRegistry.js";
