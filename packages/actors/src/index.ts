export {
  INSPECT_EXCHANGE,
  type InspectionEvent,
  type ActorAnnouncedEvent,
  type ActorTransitionEvent,
  type ActorMessageEvent,
  type ActorStoppedEvent,
  type MachineGraph,
  type MessageCounters,
} from "./inspection/InspectionEvent.js";
