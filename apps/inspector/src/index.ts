export { createInspectorServer, DEFAULT_INSPECTOR_PORT, type InspectorServer, type InspectorServerOptions } from "./createInspectorServer.js";
export type { DeadLetterPanelListing, DeadLetterPanelOptions } from "./deadLetterApi.js";
export { createInProcessSource, type RegisterInspectionListener } from "./createInProcessSource.js";
export type { InspectionSource, InspectionListener } from "./InspectionSource.js";
export { InspectionHub } from "./InspectionHub.js";
export { createAmqpSource, type AmqpSourceOptions, type AmqpInspectionSource } from "./createAmqpSource.js";
export {
  FleetModel,
  componentName,
  type ComponentStatus,
  type ComponentView,
  type TransitionRecord,
  type MessageLogEntry,
  type MessageFilter,
  type FleetChange,
  type FleetSnapshot,
  type FleetModelOptions,
} from "./FleetModel.js";
export { parseInspectionEvent } from "./parseInspectionEvent.js";
export { InspectorError, type InspectorErrorCode } from "./errors.js";
