/** The README's examples are the files in examples/, and they run with the results the README states. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { chainExample } from "../examples/chain.js";
import { firewallExample } from "../examples/firewall.js";
import { l2Example } from "../examples/l2.js";
import { lbExample } from "../examples/lb.js";
import { natExample } from "../examples/nat.js";
import { routerExample } from "../examples/router.js";

const examples: [string, () => string][] = [
  ["l2", l2Example],
  ["router", routerExample],
  ["firewall", firewallExample],
  ["nat", natExample],
  ["lb", lbExample],
  ["chain", chainExample],
];

describe("README examples", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  for (const [name, fn] of examples) {
    it(`${name}: is the code in the README and prints what the README says`, () => {
      const file = readFileSync(new URL(`../examples/${name}.ts`, import.meta.url), "utf8").replace('from "../src/index.js"', 'from "@nfvio/vnf"');
      expect(readme).toContain("```ts\n" + file + "```");
      expect(readme).toContain("```\n" + fn() + "\n```");
    });
  }
});
