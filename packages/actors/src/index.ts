export {
  MessageProcessor,
  type MessageProcessorOptions,
  type ProcessorCounters,
  type ProcessorSnapshot,
  type ProcessorState,
  type WaitOptions,
} from "./MessageProcessor.js";
export { Scheduler, type SchedulerOptions, type RunResult } from "./Scheduler.js";
export { PostageMetrics, type PostageMetricsOptions, type ProcessedOutcome } from "./metrics/PostageMetrics.js";
export { MetricsServer, type MetricsServerOptions } from "./metrics/MetricsServer.js";
export type { SchedulerMetricsOptions } from "./metrics/metricsEndpoint.js";
export {
  messageHandler,
  messageHandlerFullBody,
  rpcHandler,
  handlerClass,
  Handler,
  type HandlerClass,
  type HandlerContext,
  type HandlerDefinition,
  type HandlerOptions,
  type MessageContent,
  type MessageFilter,
  type HandlerCategory,
  type ProcessorHandle,
  type ReplyFunction,
  type ContentHandler,
  type BodyHandler,
  type RpcHandlerFunction,
} from "./handlers/HandlerDefinition.js";
export {
  processorMachine,
  type ProcessorMachine,
  type ProcessorMachineContext,
  type ProcessorMachineEvent,
  type GroupChange,
  type SupervisionOptions,
} from "./machine/processorMachine.js";
export { machineGraph, activeStatePaths, stateLabel } from "./inspection/machineGraph.js";
export type { InspectionListener } from "./inspection/InspectionHub.js";
export type { DuplicateSuppressionOptions } from "./DuplicateFilter.js";
export { ActorError, type ActorErrorCode } from "./errors.js";
export {
  INSPECT_EXCHANGE,
  type InspectionEvent,
  type ActorAnnouncedEvent,
  type ActorTransitionEvent,
  type ActorMessageEvent,
  type ActorStoppedEvent,
  type MachineGraph,
  type MachineGraphNode,
  type MachineNodeKind,
  type BehaviourView,
  type MessageCounters,
} from "./inspection/InspectionEvent.js";
export { GenericApplication, genericApplicationExchange, type GenericApplicationOptions } from "./GenericApplication.js";
export { addresses, type ApplicationIdentity } from "./addressing.js";
export { inspectExchange, type InspectionPublishingOptions } from "./inspection/InspectionPublisher.js";
export type { ComponentEvent, ReplyValue } from "./component/ComponentEvent.js";
export { reply } from "./component/reply.js";
export type { SnapshotStore, PersistedSnapshot } from "./component/SnapshotStore.js";
export { createFileSnapshotStore, type FileSnapshotStoreOptions } from "./component/createFileSnapshotStore.js";
export { defineComponent, Component, type ComponentOptions, type BehaviourCounters } from "./component/defineComponent.js";
export { sendCommand, callRpc, broadcastStatus, type Destination, type AnyActionArgs, type FromArgs, type CommandParameters, type ComponentAction, type RpcReplyEvent, type CallRpcOptions, type BroadcastStatusOptions } from "./component/componentActions.js";
