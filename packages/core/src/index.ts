export { CoreError, type CoreErrorKind } from "./errors.js";
export { CounterSet, counterIndex, type CounterHandle, type CounterSnapshot } from "./counters.js";
export { Link, SharedLink, LINK_CAPACITY, LINK_COUNTERS, LINK_MAX_CAPACITY, type LinkCounter, type LinkHandle } from "./link.js";
export { RealClock, ModelClock, type Clock, type ClockKind, type EventCallback, type EventHandler } from "./clock.js";
export { Meter, Resource, type ResourceKind, type ResourceSnapshot } from "./meter.js";
export {
  DEFAULT_COST_MODEL,
  costModelSchema,
  costRates,
  loadCostModel,
  type CostEntry,
  type CostModel,
  type CostOverrides,
  type CostRates,
  type StageCost,
  type StageRates,
} from "./cost.js";
export { App, type AppContext, type Component, type ComponentClass, type ModuleRef, type OptionsSchema } from "./component.js";
export { Config, parseLink, type ComponentConfig, type ComponentSpec, type Endpoint, type GraphConfig, type LinkSpec, type Placement } from "./config.js";
export { portApp, type Port, type PortAppDefinition } from "./port.js";
export {
  Engine,
  type ConfigureOptions,
  type ConfigureReport,
  type EngineOptions,
  type EngineSnapshot,
  type RunOptions,
  type RunReport,
} from "./engine.js";
export { WORKER_COUNTERS, type WorkerSnapshot } from "./placement.js";
export { startWorker, type StartWorkerOptions } from "./worker.js";
export { Source, Sink, Filter, Join, Tee } from "./apps/basic.js";
export { Burst, BURST_SIZE, PacketPool, type PoolHandle, type PoolOptions, type PoolStats } from "@nfvio/packet";
