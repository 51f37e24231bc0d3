export { connect, type ConnectOptions } from "./connect.js";
export { Broker, type Closable, type DebugLogger, type ResourceKind } from "./Broker.js";
export {
  createProducer,
  type CommandBuilders,
  type MessageBuilder,
  type MessageBuilders,
  type Producer,
  type ProducerApi,
  type ProducerOptions,
  type ProducerStats,
  type SendOptions,
  type SendProxy,
} from "./Producer.js";
export type { GatherOptions } from "./gather.js";
export { DEFAULT_RPC_OPTIONS, type PendingReply, type ReplyMode, type RpcOptions, type RpcStats } from "./RpcClient.js";
export { createReplier, type Replier, type ReplierOptions } from "./reply.js";
export {
  createConsumer,
  reject,
  DEAD_LETTER_HEADERS,
  DEFAULT_DEAD_LETTER_EXCHANGE,
  type Consumer,
  type ConsumerCounters,
  type ConsumerOptions,
  type ExchangeQueueKeys,
  type HandlerOutcome,
  type Incoming,
  type MessageHandler,
  type QueueKeys,
  type QueueOptions,
  type QueueRef,
  type Rejection,
} from "./Consumer.js";
export type { ExchangeKeys, Routing } from "./routing.js";
export type { DeliveryTrace } from "./telemetry/DeliveryTrace.js";
export type { RpcOutcome, TransportObserver } from "./telemetry/TransportObserver.js";
export {
  DEAD_LETTER_QUEUE,
  DEFAULT_DEAD_LETTER_LIMITS,
  deadLetterQueueArguments,
  type DeadLetterQueueLimits,
} from "./deadLetterQueue.js";
export { TransportError, type TransportErrorCode, type TransportErrorDetails } from "./errors.js";
export {
  resolveConnectionSettings,
  type AmqpSettings,
  type ConnectionOptions,
  type ConnectionSettings,
  type MemorySettings,
  type TlsOptions,
} from "./config/connectionSettings.js";
export {
  MemoryBroker,
  MemoryDriver,
  memoryDriver,
  getMemoryBroker,
  dropMemoryBroker,
  dropAllMemoryBrokers,
  type MemoryDriverOptions,
} from "./memory/index.js";
export { RabbitDriver, type RabbitDriverOptions } from "./rabbit/RabbitDriver.js";
export { redactUrl } from "./config/redactUrl.js";
export type {
  BindingSpec,
  BrokerDriver,
  Delivery,
  DeliveryHandler,
  Disposition,
  DriverConsumer,
  DriverConsumerOptions,
  DriverPublisher,
  DriverReplyChannel,
  ReplyChannelEvents,
  ReplyChannelOptions,
  MessageProperties,
  PublishOptions,
  QueueSpec,
} from "./driver/BrokerDriver.js";
export type { BrowseDecision, BrowsedMessage, BrowseOptions, BrowseResult, BrowseVisitor } from "./driver/QueueBrowser.js";
export {
  findDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  replayDeadLetters,
  type DeadLetter,
  type DeadLetterListing,
  type DeadLetterQueueOptions,
  type DeadLetterSource,
  type ListDeadLettersOptions,
  type PurgeDeadLettersOptions,
  type PurgeReport,
  type ReplayDeadLettersOptions,
  type ReplayedLetter,
  type ReplayReport,
} from "./deadLetters/index.js";
