/**
 * A vhost-user back-end on a socket path, in either role of the socket
 * ("The front-end and back-end can be either a client (i.e. connecting) or
 * server (listening) in the socket communication", vhost-user.rst):
 *
 * - `server` (default): listen at `path` (socket file mode 0600, created
 *   without a window of wider permissions by `sys.listenUnix`) and serve one
 *   front-end at a time; a second front-end that connects while one is
 *   served is refused (closed, with a log line).
 * - `client`: connect to a front-end listening at `path` (QEMU's
 *   `server=on`, DPDK virtio-user's `server=1`), retrying every
 *   `reconnectMs` until it answers, and again after it disconnects.
 *
 * Either way a connection that ends, however it ends, leaves the device
 * stopped, the memory unmapped and every descriptor closed, and the server
 * ready for the next front-end.
 */
import { lstatSync, unlinkSync } from "node:fs";
import * as sys from "../sys/index.js";
import { stderrLogger, type Logger, type VhostUserDevice } from "./device.js";
import { VhostUserSession } from "./session.js";

export interface VhostUserServerOptions {
  /** Socket path. */
  path: string;
  /** "server" listens at `path` (default); "client" connects to a listening front-end. */
  role?: "server" | "client";
  device: VhostUserDevice;
  log?: Logger;
  /** Client role: delay between connection attempts (default 250 ms). */
  reconnectMs?: number;
  /** Server role: permission bits of the socket file (default 0o600). */
  mode?: number;
  /** Called for each new connection. */
  onConnect?: (session: VhostUserSession) => void;
  /** Called when a connection ends, with the reason. */
  onDisconnect?: (reason: string) => void;
}

export class VhostUserServer {
  readonly path: string;
  readonly role: "server" | "client";
  private readonly device: VhostUserDevice;
  private readonly log: Logger;
  private readonly reconnectMs: number;
  private readonly mode: number;
  private readonly onConnect: ((s: VhostUserSession) => void) | undefined;
  private readonly onDisconnect: ((reason: string) => void) | undefined;
  private listenFd = -1;
  private listenWatch: sys.FdWatcher | null = null;
  private retry: NodeJS.Timeout | null = null;
  private current: VhostUserSession | null = null;
  private stopped = false;
  private started = false;
  /** Connections served so far. */
  connections = 0;
  /** Connections refused because one was already being served. */
  refused = 0;

  constructor(options: VhostUserServerOptions) {
    this.path = options.path;
    this.role = options.role ?? "server";
    this.device = options.device;
    this.log = options.log ?? stderrLogger;
    this.reconnectMs = options.reconnectMs ?? 250;
    this.mode = options.mode ?? 0o600;
    this.onConnect = options.onConnect;
    this.onDisconnect = options.onDisconnect;
  }

  /** The session being served, if any. */
  get session(): VhostUserSession | null {
    return this.current;
  }

  /** Listen (server) or start connecting (client). Throws SysError when the socket cannot be created in server role. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.role === "server") {
      this.listenFd = sys.listenUnix(this.path, { mode: this.mode, replace: true });
      this.listenWatch = sys.watchFd(this.listenFd, { readable: true }, () => this.acceptAll());
      this.log("info", `${this.path}: listening`);
    } else {
      this.tryConnect();
    }
  }

  private acceptAll(): void {
    for (;;) {
      let fd: number | null;
      try {
        fd = sys.accept(this.listenFd);
      } catch (e) {
        this.log("warn", `${this.path}: accept failed: ${(e as Error).message}`);
        return;
      }
      if (fd === null) return;
      if (this.current) {
        this.refused++;
        this.log("warn", `${this.path}: a second front-end connected while one is served; refused`);
        sys.closeAll([fd]);
        continue;
      }
      this.serve(fd);
    }
  }

  private tryConnect(): void {
    this.retry = null;
    if (this.stopped || this.current) return;
    let fd: number;
    try {
      fd = sys.connectUnix(this.path);
    } catch (e) {
      if (sys.isSysError(e) && (e.code === "ENOENT" || e.code === "ECONNREFUSED" || e.code === "EAGAIN")) {
        this.retry = setTimeout(() => this.tryConnect(), this.reconnectMs);
        return;
      }
      this.log("error", `${this.path}: connect failed: ${(e as Error).message}; retrying`);
      this.retry = setTimeout(() => this.tryConnect(), this.reconnectMs);
      return;
    }
    this.serve(fd);
  }

  private serve(fd: number): void {
    this.connections++;
    const session = new VhostUserSession(fd, this.device, {
      log: this.log,
      name: this.path,
      onClose: (reason) => {
        if (this.current === session) this.current = null;
        this.onDisconnect?.(reason);
        if (this.role === "client" && !this.stopped) this.retry = setTimeout(() => this.tryConnect(), this.reconnectMs);
      },
    });
    this.current = session;
    this.log("info", `${this.path}: front-end connected`);
    this.onConnect?.(session);
    session.start();
  }

  /** Close the connection (if any) and the listening socket; the socket file is removed. Idempotent. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.current?.close("back-end shutting down");
    this.current = null;
    this.listenWatch?.stop();
    this.listenWatch = null;
    if (this.listenFd >= 0) {
      sys.closeAll([this.listenFd]);
      this.listenFd = -1;
      try {
        if (lstatSync(this.path).isSocket()) unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}
