// The peer contenders, loaded by `node apps/bench/dist/main.js --peers` after `npm run bench:peers`
// installed this folder. Keys must be ContenderKeys of ../src/Contender.ts.
import { moleculerContender } from "./moleculer.mjs";
import { nestContender } from "./nestjs.mjs";

/** @type {readonly import("../src/Contender.js").ContenderFactory[]} */
export const peerContenders = [
  moleculerContender({ key: "moleculer", label: "Moleculer tuned", tuned: true }),
  moleculerContender({ key: "moleculerDefaults", label: "Moleculer defaults", tuned: false }),
  nestContender({ key: "nestjs", label: "NestJS manual acks", manualAcks: true }),
  nestContender({ key: "nestjsDefaults", label: "NestJS defaults", manualAcks: false }),
];
