export type { DeadLetter, DeadLetterSource } from "./DeadLetter.js";
export type { DeadLetterQueueOptions } from "./targetQueue.js";
export { findDeadLetter, listDeadLetters, type DeadLetterListing, type ListDeadLettersOptions } from "./listDeadLetters.js";
export { replayDeadLetters, type ReplayDeadLettersOptions, type ReplayedLetter, type ReplayReport } from "./replayDeadLetters.js";
export { purgeDeadLetters, type PurgeDeadLettersOptions, type PurgeReport } from "./purgeDeadLetters.js";
