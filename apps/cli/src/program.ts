/**
 * The `nfvio` command tree. Each subcommand lives in src/commands/ and
 * registers itself here; every one has --help, and every one that prints
 * results has --json.
 */
import { Command, CommanderError } from "commander";
import { registerBench } from "./commands/bench.js";
import { registerCompare } from "./commands/compare.js";
import { registerDashboard } from "./commands/dashboard.js";
import { registerRun } from "./commands/run.js";
import { registerDemo } from "./commands/demo.js";
import { registerGen } from "./commands/gen.js";
import { registerVhostUser } from "./commands/vhost-user.js";
import { registerVirtioUser } from "./commands/virtio-user.js";
import { registerTap } from "./commands/tap.js";
import { CliError } from "./output.js";

export function buildProgram(): Command {
  const program = new Command("nfvio")
    .description("nfvio: hardware-accelerated virtio networking for NFV, modelled and measured")
    .version("0.1.0")
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true })
    // A command's options are its own: `bench ring -s 2` is ring's --seconds, not bench's.
    .enablePositionalOptions();
  registerDemo(program);
  registerBench(program);
  registerGen(program);
  registerVhostUser(program);
  registerVirtioUser(program);
  registerTap(program);
  registerCompare(program);
  registerRun(program);
  registerDashboard(program);
  return program;
}

/** Run the CLI with `argv` (as process.argv). Resolves to the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  const override = (c: Command): void => {
    c.exitOverride();
    for (const sub of c.commands) override(sub);
  };
  override(program);
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof CliError) {
      process.stderr.write(`nfvio: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
