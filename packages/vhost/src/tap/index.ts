export { TapPort, TAP_PORT_COUNTERS, type TapPortCounter, type TapPortOptions } from "./port.js";
export { TapResponder, TapL2Forwarder, TAP_RESPONDER_COUNTERS, TAP_L2FWD_COUNTERS, type TapAppOptions, type TapResponderOptions } from "./apps.js";
