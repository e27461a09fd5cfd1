/** Waiting for the user (Ctrl-C) or a supervisor to stop a long-running subcommand. */

/** Resolve with the signal's name when SIGINT or SIGTERM first arrives; the handlers are removed then. */
export function untilSignal(): Promise<"SIGINT" | "SIGTERM"> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal === "SIGTERM" ? "SIGTERM" : "SIGINT");
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
