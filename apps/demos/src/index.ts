export { Printer, show, type PrintedLine } from "./Printer.js";
export { demoNames, ECHO_KEY, ECHO_FANOUT_KEY, DEFAULT_DEMO_URL, type DemoNames } from "./settings.js";
export { whenRunning, type DemoContext } from "./DemoContext.js";
export { receiveBasicEcho, sendBasicEcho } from "./basicEcho.js";
export { receiveAdvancedEcho, sendAdvancedEcho } from "./advancedEcho.js";
export { receiveRpcEcho, sendRpcEcho, RPC_ECHO_ANSWER } from "./rpcEcho.js";
export { receiveGenericApps, sendGenericApps, quitGenericApps } from "./genericApp.js";
export { sendQuit } from "./quit.js";
export { runTour, TOUR_URL, type TourOptions } from "./tour.js";
