#!/usr/bin/env node
/**
 * Every publishable package must be consumable on its own, as users will:
 * `pnpm pack` gives a tarball with name, version, license, `exports` with
 * types and `files`; the tarballs install into an empty npm project and import
 * there, with their type declarations checked by tsc.
 *
 * Usage: node tooling/pack-check.mjs   (builds first with turbo)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(new URL("..", import.meta.url).pathname);
const run = (cmd, args, cwd, quiet = false) =>
  execFileSync(cmd, args, { cwd, stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit", encoding: "utf8" });

const pkgs = readdirSync(join(root, "packages"))
  .map((d) => join(root, "packages", d))
  .filter((d) => existsSync(join(d, "package.json")))
  .map((dir) => ({ dir, json: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
  .filter((p) => !p.json.private);

const problems = [];
for (const { json } of pkgs) {
  for (const field of ["name", "version", "license", "exports", "files"]) {
    if (!json[field]) problems.push(`${json.name}: package.json lacks "${field}"`);
  }
  for (const [sub, target] of Object.entries(json.exports ?? {})) {
    if (sub.endsWith("package.json")) continue;
    if (typeof target !== "object" || !target.types || !target.default) problems.push(`${json.name}: export "${sub}" needs "types" and "default"`);
  }
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}

run("pnpm", ["turbo", "run", "build", "--output-logs=errors-only"], root);
const work = mkdtempSync(join(tmpdir(), "nfvio-pack-"));
try {
  const tarballs = [];
  for (const { dir, json } of pkgs) {
    const out = run("pnpm", ["pack", "--pack-destination", work], dir, true).trim().split("\n").pop();
    tarballs.push(out);
    const listing = run("tar", ["tzf", out], work, true);
    if (/\.test\.|\/test\//.test(listing)) throw new Error(`${json.name}: tarball contains tests`);
    for (const sub of Object.keys(json.exports)) {
      if (sub.endsWith("package.json")) continue;
      const t = json.exports[sub];
      for (const f of [t.types, t.default]) {
        if (!listing.includes(`package/${f.replace(/^\.\//, "")}`)) throw new Error(`${json.name}: tarball lacks ${f} for export "${sub}"`);
      }
    }
  }
  const app = join(work, "consumer");
  run("mkdir", ["-p", app], work);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", "@types/node@20.19.43", ...tarballs], app);
  // Import every export at run time...
  const imports = [];
  const typeLines = [];
  pkgs.forEach(({ json }, i) => {
    for (const sub of Object.keys(json.exports)) {
      if (sub.endsWith("package.json")) continue;
      const spec = sub === "." ? json.name : `${json.name}/${sub.replace(/^\.\//, "")}`;
      imports.push(`const m${i}_${imports.length} = await import(${JSON.stringify(spec)}); if (Object.keys(m${i}_${imports.length}).length === 0) throw new Error("${spec} exports nothing");`);
      typeLines.push(`import * as t${typeLines.length} from ${JSON.stringify(spec)};\nexport const k${typeLines.length}: string[] = Object.keys(t${typeLines.length});`);
    }
  });
  writeFileSync(join(app, "check.mjs"), imports.join("\n") + '\nconsole.log("imported", ' + imports.length + ', "entry points");\n');
  run("node", ["check.mjs"], app);
  // ...and type-check a consumer against the shipped declarations.
  writeFileSync(join(app, "types.ts"), typeLines.join("\n") + "\n");
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true, skipLibCheck: false, types: ["node"] }, files: ["types.ts"] }),
  );
  run(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], app);
  console.log(`pack-check: ${pkgs.length} packages packed, installed into an empty npm project, imported and type-checked`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
