/**
 * A progress bar on stderr for runs that take more than a few seconds:
 * shown only to people (stderr is a terminal, no --json, no --no-progress).
 */
import cliProgress from "cli-progress";

export class Progress {
  private bar: cliProgress.SingleBar | null = null;

  constructor(name: string, enabled: boolean) {
    if (enabled) {
      this.bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: `${name} [{bar}] {percentage}% | {label}`, hideCursor: true, clearOnComplete: true, etaBuffer: 50, fps: 10 },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(1000, 0, { label: "" });
    }
  }

  /** Whether a bar is shown for these options. */
  static wanted(opts: { json?: boolean; progress?: boolean }): boolean {
    return opts.progress !== false && opts.json !== true && process.stderr.isTTY === true;
  }

  update(fraction: number, label: string): void {
    this.bar?.update(Math.round(Math.min(1, Math.max(0, fraction)) * 1000), { label });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
