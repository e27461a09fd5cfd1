/**
 * VNFs by name, for scenarios written as data (`{ kind, config }`) and the
 * CLI: `createVnf` builds one, `loadVnf` reads one from a JSON/YAML file.
 */
import { z } from "zod";
import { ServiceChain } from "./chain.js";
import { parseConfig, parseConfigText } from "./config.js";
import { type ConfigIssue, VnfError } from "./errors.js";
import { Firewall, FirewallConfigSchema } from "./firewall.js";
import { L2Fwd, L2FwdConfigSchema, MacSwap, MacSwapConfigSchema } from "./l2fwd.js";
import { LoadBalancer, LoadBalancerConfigSchema } from "./lb.js";
import { Nat, NatConfigSchema } from "./nat.js";
import { Router, RouterConfigSchema } from "./router.js";
import type { Vnf, VnfOptions } from "./vnf.js";
import { readFileSync } from "node:fs";

/** Every VNF kind with its configuration schema. */
export const VNF_SCHEMAS = {
  macswap: MacSwapConfigSchema,
  l2fwd: L2FwdConfigSchema,
  router: RouterConfigSchema,
  firewall: FirewallConfigSchema,
  nat: NatConfigSchema,
  lb: LoadBalancerConfigSchema,
} as const;
export type VnfKind = keyof typeof VNF_SCHEMAS | "chain";
export const VNF_KINDS: readonly VnfKind[] = [...(Object.keys(VNF_SCHEMAS) as (keyof typeof VNF_SCHEMAS)[]), "chain"];

/** A VNF described as data. A chain's `config` is `{ stages: VnfSpec[], links?: number[][] }`. */
export interface VnfSpec {
  kind: VnfKind;
  config?: unknown;
}

const SpecSchema = z.object({ kind: z.enum(VNF_KINDS as [VnfKind, ...VnfKind[]]), config: z.unknown().optional() }).strict();
const ChainSchema = z
  .object({ stages: z.array(z.unknown()).min(1), links: z.array(z.array(z.number().int().min(0)).optional()).optional() })
  .strict();

function withPrefix(e: unknown, prefix: string): never {
  if (e instanceof VnfError && e.kind === "config") {
    const issues: ConfigIssue[] = e.issues.map((i) => ({ path: i.path ? `${prefix}.${i.path}` : prefix, reason: i.reason }));
    throw new VnfError("config", `invalid configuration\n  ${issues.map((i) => `${i.path}: ${i.reason}`).join("\n  ")}`, issues);
  }
  throw e;
}

/** Build a VNF from `{ kind, config }`; configuration errors name the field (`config.rules[2].src`, `config.stages[1].config...`). */
export function createVnf(spec: VnfSpec, opts: VnfOptions = {}): Vnf {
  const s = parseConfig(SpecSchema, spec);
  try {
    switch (s.kind) {
      case "macswap":
        return new MacSwap(s.config as z.input<typeof MacSwapConfigSchema>);
      case "l2fwd":
        return new L2Fwd(s.config as z.input<typeof L2FwdConfigSchema>);
      case "router":
        return new Router(s.config as z.input<typeof RouterConfigSchema>, opts);
      case "firewall":
        return new Firewall(s.config as z.input<typeof FirewallConfigSchema>, opts);
      case "nat":
        return new Nat(s.config as z.input<typeof NatConfigSchema>, opts);
      case "lb":
        return new LoadBalancer(s.config as z.input<typeof LoadBalancerConfigSchema>, opts);
      case "chain": {
        const c = parseConfig(ChainSchema, s.config);
        const stages = c.stages.map((st, i) => {
          try {
            return createVnf(st as VnfSpec, opts);
          } catch (e) {
            return withPrefix(e, `stages[${i}]`);
          }
        });
        try {
          return new ServiceChain(stages, { links: c.links });
        } catch (e) {
          if (e instanceof VnfError && e.kind === "usage") throw new VnfError("config", `invalid configuration\n  links: ${e.message}`, [{ path: "links", reason: e.message }]);
          throw e;
        }
      }
    }
  } catch (e) {
    return withPrefix(e, "config");
  }
}

/** Read `{ kind, config }` from a `.json`, `.yaml` or `.yml` file and build the VNF; errors name the file and the field. */
export function loadVnf(file: string, opts: VnfOptions = {}): Vnf {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new VnfError("file", `${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return createVnf(parseConfigText(text, file) as VnfSpec, opts);
  } catch (e) {
    if (e instanceof VnfError && e.kind === "config") {
      throw new VnfError("config", `${file}: ${e.message.replace(/\n {2}/g, `\n  ${file}: `)}`, e.issues);
    }
    throw e;
  }
}
