/**
 * @nfvio/trafgen: traffic generation and analysis for nfvio.
 */
export { TrafgenError, type TrafgenErrorKind } from "./errors.js";
export {
  FCS_LEN,
  L1_OVERHEAD,
  MAX_STD_FRAME,
  MIN_FRAME,
  RFC2544_SIZES,
  formatRate,
  l1Bps,
  l2Bps,
  lineRatePps,
  parseDuration,
  parseLineRate,
  parseRate,
  parseShare,
  ratePps,
  wireTimeNs,
  type Rate,
} from "./units.js";
export { SIMPLE_IMIX, MAX_SIZE_CYCLE, SizeSequence, describeSizes, parseSizeList, parseSizeSpec, type SizeSpec } from "./sizes.js";
export { SIGNATURE_LEN, SIGNATURE_MAGIC, extendSeq, readSignature, writeSignature, type SignatureFields } from "./signature.js";
export { DEFAULT_TEMPLATE, Template, templateSchema, type TemplateOptions, type TemplateSpec } from "./template.js";
export { FIELD_NAMES, Field, fieldSchema, foldChecksum, type FieldName, type FieldSpec } from "./fields.js";
export { Stream, streamSchema, durationNs, type FrameSource, type Pacing, type StreamOptions, type StreamSpec } from "./stream.js";
export { PcapReplay, type ReplayFrame, type ReplayMode, type ReplayOptions } from "./replay.js";
export { Generator, type GeneratorOptions } from "./generator.js";
export { RxAnalyzer, StreamRx, seriesToCsv, type AnalyzerOptions, type IntervalRow, type LatencySummary, type StreamReport } from "./rx.js";
export { DUT_COUNTERS, LoopbackPort, dutSchema, type DutSpec, type TimedPort } from "./dut.js";
export { runPort, type RunPortOptions, type RunResult, type StreamResult } from "./runner.js";
export { TrafficSink, TrafficSource, graphReport } from "./apps.js";
export {
  backToBack,
  frameLossRate,
  latency,
  ndrPdr,
  portTrial,
  throughput,
  type BackToBackOptions,
  type BackToBackResult,
  type LatencyOptions,
  type LatencyResult,
  type LoadBasis,
  type LossRateOptions,
  type LossRateResult,
  type NdrPdrResult,
  type PortTrialOptions,
  type RateFigures,
  type SearchOptions,
  type SearchTrial,
  type ThroughputResult,
  type TrialFn,
  type TrialResult,
  type TrialSpec,
} from "./rfc2544.js";
