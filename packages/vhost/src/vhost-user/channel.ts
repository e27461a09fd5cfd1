/**
 * The front-end's end of a vhost-user socket: send a request (with its
 * descriptors) and, when one is due, await the back-end's reply, decoded and
 * checked by {@link decodeReply}. Replies arrive in request order, so one
 * waiter at a time is enough.
 */
import * as sys from "../sys/index.js";
import {
  decodeReply,
  encodeMessage,
  MessageFramer,
  VHOST_USER_MAX_FDS,
  VhostUserError,
  type EncodeOptions,
  type Frame,
  type FrontendReplyBody,
  type FrontendRequestBodies,
  type FrontendRequestName,
} from "./protocol.js";

export class FrontendChannel {
  readonly fd: number;
  private readonly framer = new MessageFramer();
  private readonly buf = new Uint8Array(4096 + 12);
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | null = null;
  private watch: sys.FdWatcher | null = null;
  private closedWhy: string | null = null;

  constructor(fd: number) {
    this.fd = fd;
    this.watch = sys.watchFd(fd, { readable: true }, () => this.onReadable());
  }

  get closed(): boolean {
    return this.closedWhy !== null;
  }

  private onReadable(): void {
    while (this.closedWhy === null) {
      let got: sys.ReceivedMessage | null;
      try {
        got = sys.recvMessage(this.fd, this.buf.subarray(0, Math.max(1, this.framer.wanted)), { maxFds: VHOST_USER_MAX_FDS });
      } catch (e) {
        this.fail(`recvmsg failed: ${(e as Error).message}`);
        return;
      }
      if (got === null) break;
      if (got.bytes === 0) {
        this.fail("the back-end closed the connection");
        break;
      }
      this.framer.push(this.buf.subarray(0, got.bytes), got.fds);
      if (this.framer.error) {
        this.fail(this.framer.error.message);
        break;
      }
      for (let f = this.framer.take(); f; f = this.framer.take()) this.frames.push(f);
    }
    if (this.frames.length > 0 || this.closedWhy !== null) {
      const w = this.waiter;
      this.waiter = null;
      w?.();
    }
  }

  private fail(why: string): void {
    if (this.closedWhy !== null) return;
    this.closedWhy = why;
    this.watch?.stop();
    this.watch = null;
  }

  /** Send one request; throws when the socket does not take it whole. */
  send<K extends FrontendRequestName>(name: K, body: FrontendRequestBodies[K], fds: readonly number[] = [], options: EncodeOptions = {}): void {
    if (this.closedWhy !== null) throw new VhostUserError("failed", `${name}: ${this.closedWhy}`);
    const bytes = encodeMessage(name, body, options);
    const n = sys.sendMessage(this.fd, bytes, fds);
    if (n !== bytes.length) throw new VhostUserError("failed", `${name}: the socket took ${n ?? 0} of ${bytes.length} bytes`);
  }

  /** Await the reply to `name` (decoded against it), within `timeoutMs`. */
  async reply<K extends FrontendRequestName>(name: K, timeoutMs = 5000): Promise<FrontendReplyBody<K>> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closedWhy !== null) throw new VhostUserError("failed", `awaiting the ${name} reply: ${this.closedWhy}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new VhostUserError("failed", `no reply to ${name} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    const f = this.frames.shift()!;
    const r = decodeReply(f.bytes, f.fds.length, name);
    sys.closeAll(f.fds);
    if (!r.ok) throw r.error;
    return r.message.body;
  }

  /** Send and await the reply. */
  async request<K extends FrontendRequestName>(name: K, body: FrontendRequestBodies[K], fds: readonly number[] = [], options: EncodeOptions = {}): Promise<FrontendReplyBody<K>> {
    this.send(name, body, fds, options);
    return this.reply(name);
  }

  /** Stop reading and close the socket; idempotent. */
  close(): void {
    this.fail("closed");
    sys.closeAll(this.framer.releaseFds());
    for (const f of this.frames.splice(0)) sys.closeAll(f.fds);
    sys.closeAll([this.fd]);
  }
}
