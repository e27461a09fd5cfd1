/**
 * Connection tracking shared by the firewall and the NAT.
 *
 * Each tracked connection is one entry with two flow keys: the original
 * direction's tuple and the tuple its replies will carry (the reverse of the
 * original, after any address translation), both indexed in one hash table,
 * so a lookup also tells the direction. This is the structure of Linux
 * netfilter's conntrack (Ayuso, "Netfilter's connection tracking system",
 * ;login: 31(3), 2006); the TCP state machine is a simplified but coherent
 * reading of RFC 9293 §3.3.2 as seen by a middlebox:
 *
 * ```
 * (none) --SYN (orig)--> SYN_SENT --SYN+ACK (reply)--> SYN_RECV --ACK (orig)--> ESTABLISHED
 * ESTABLISHED --FIN (side A)--> FIN_WAIT --ACK (side B)--> CLOSE_WAIT
 * FIN_WAIT | CLOSE_WAIT --FIN (side B)--> TIME_WAIT
 * any --RST--> CLOSED;  TIME_WAIT | CLOSED --SYN (orig)--> SYN_SENT (the tuple is reused)
 * ```
 *
 * A packet that does not fit its connection's state is `invalid` (the caller
 * drops it; the state is unchanged). UDP and other protocols have two states
 * (unreplied, replied) with separate timeouts; ICMP echo is tracked by its
 * identifier. Entries expire lazily when looked up, by a small incremental
 * sweep per burst, or when a full table needs room: the eviction scan removes
 * an expired entry, else the first not-yet-assured one (no reply or TCP not
 * established, like netfilter's early drop), else the new connection is refused.
 */
import { z } from "zod";
import { FLOW_KEY_WORDS, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "./internal/parse.js";
import { KeyTable } from "./internal/table.js";

/** TCP connection states (plus the UDP/ICMP pseudo-states). */
export const TcpState = {
  SYN_SENT: 1,
  SYN_RECV: 2,
  ESTABLISHED: 3,
  FIN_WAIT: 4,
  CLOSE_WAIT: 5,
  TIME_WAIT: 6,
  CLOSED: 7,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

export const CT_STATE_NAMES: readonly string[] = ["UNREPLIED", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "TIME_WAIT", "CLOSED", "REPLIED"];
/** Pseudo-states of non-TCP entries. */
const UNREPLIED = 0;
const REPLIED = 8;

const sec = z.number().positive();
/** Timeouts in seconds; defaults are Linux nf_conntrack's. */
export const TimeoutsSchema = z
  .object({
    synSent: sec.default(120),
    synRecv: sec.default(60),
    established: sec.default(432000),
    finWait: sec.default(120),
    closeWait: sec.default(60),
    timeWait: sec.default(120),
    closed: sec.default(10),
    /** UDP before a reply was seen. */
    udp: sec.default(30),
    /** UDP after a reply was seen. */
    udpReplied: sec.default(120),
    icmp: sec.default(30),
    /** Other IP protocols. */
    other: sec.default(600),
  })
  .strict();
export type Timeouts = z.output<typeof TimeoutsSchema>;

export const ConnTrackConfigSchema = z
  .object({
    /** Most connections tracked at once. */
    capacity: z.number().int().min(1).max(1 << 24).default(65536),
    timeouts: TimeoutsSchema.default({}),
    /** Evict a not-yet-assured connection when full (else refuse the new one). */
    earlyDrop: z.boolean().default(true),
  })
  .strict();
export type ConnTrackConfig = z.input<typeof ConnTrackConfigSchema>;

/** Entries the eviction scan looks at before refusing a new connection. */
const EVICT_SCAN = 16;

/** Result of {@link ConnTrack.update} for a TCP packet that does not fit the state. */
export const CT_INVALID = -1;

export class ConnTrack {
  readonly capacity: number;
  /** Original-direction key of entry i at `orig[i*10 ..]`; the reply key at `reply[i*10 ..]`. */
  readonly orig: Uint32Array;
  readonly reply: Uint32Array;
  /** Per-entry state ({@link TcpState}, or 0/8 for unreplied/replied non-TCP). */
  readonly state: Uint8Array;
  /** Expiry time in ms on the VNF's clock. */
  readonly expires: Float64Array;
  /** 1 while the entry is in use. */
  readonly used: Uint8Array;
  /** Which side sent the first FIN (0 orig, 1 reply). */
  private readonly finDir: Uint8Array;
  private readonly table: KeyTable;
  private readonly free: Int32Array;
  private freeTop: number;
  private hand = 0;
  private readonly t: Float64Array;
  private readonly onRemove: ((id: number) => void) | undefined;
  private readonly earlyDrop: boolean;

  /** Connections created, expired (timed out), evicted (early drop) and refused (table full). */
  created = 0;
  expired = 0;
  evicted = 0;
  refused = 0;
  /** TCP packets that did not fit their connection's state. */
  invalid = 0;

  constructor(config: z.output<typeof ConnTrackConfigSchema>, onRemove?: (id: number) => void) {
    const cap = config.capacity;
    this.capacity = cap;
    this.orig = new Uint32Array(cap * FLOW_KEY_WORDS);
    this.reply = new Uint32Array(cap * FLOW_KEY_WORDS);
    this.state = new Uint8Array(cap);
    this.expires = new Float64Array(cap);
    this.used = new Uint8Array(cap);
    this.finDir = new Uint8Array(cap);
    this.table = new KeyTable(FLOW_KEY_WORDS, cap * 2);
    this.free = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeTop = cap;
    const to = config.timeouts;
    // Timeout per state index (TCP states 1..7), then UDP, UDP replied, ICMP, other; in ms.
    this.t = Float64Array.from(
      [0, to.synSent, to.synRecv, to.established, to.finWait, to.closeWait, to.timeWait, to.closed, to.udp, to.udpReplied, to.icmp, to.other].map((s) => s * 1000),
    );
    this.onRemove = onRemove;
    this.earlyDrop = config.earlyDrop;
  }

  /** Connections in the table. */
  get size(): number {
    return this.capacity - this.freeTop;
  }

  /**
   * Find the connection whose original or reply key equals `key[ko ..]`.
   * Returns `id * 2 + direction` (0 original, 1 reply) or -1. An expired
   * entry is removed and not found.
   */
  lookup(key: Uint32Array, ko: number, now: number): number {
    const v = this.table.get(key, ko);
    if (v < 0) return -1;
    const id = v >> 1;
    if (this.expires[id]! <= now) {
      this.expired++;
      this.remove(id);
      return -1;
    }
    return v;
  }

  /**
   * Track a new connection. `origKey` and `replyKey` are 10-word flow keys;
   * for a TCP connection the caller has checked the first packet is a SYN.
   * Returns the entry id, or -1 when the table is full and nothing could be
   * evicted (counted in `refused`), or -2 when either key is already tracked.
   */
  create(origKey: Uint32Array, ok: number, replyKey: Uint32Array, rk: number, now: number): number {
    if (this.table.get(origKey, ok) >= 0 || this.table.get(replyKey, rk) >= 0) return -2;
    if (this.freeTop === 0 && !this.makeRoom(now)) {
      this.refused++;
      return -1;
    }
    const id = this.free[--this.freeTop]!;
    const b = id * FLOW_KEY_WORDS;
    for (let w = 0; w < FLOW_KEY_WORDS; w++) {
      this.orig[b + w] = origKey[ok + w]!;
      this.reply[b + w] = replyKey[rk + w]!;
    }
    this.table.set(this.orig, b, id * 2);
    this.table.set(this.reply, b, id * 2 + 1);
    this.used[id] = 1;
    this.finDir[id] = 0;
    const proto = origKey[ok]! & 0xff;
    this.state[id] = proto === PROTO_TCP ? TcpState.SYN_SENT : UNREPLIED;
    this.expires[id] = now + this.timeoutOf(id);
    this.created++;
    return id;
  }

  private timeoutOf(id: number): number {
    const s = this.state[id]!;
    const proto = this.orig[id * FLOW_KEY_WORDS]! & 0xff;
    if (proto === PROTO_TCP) return this.t[s]!;
    if (proto === PROTO_UDP) return this.t[s === REPLIED ? 9 : 8]!;
    if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) return this.t[10]!;
    return this.t[11]!;
  }

  /**
   * Account one packet of connection `id` travelling in `dir` (0 original,
   * 1 reply) with TCP flags `flags` (ignored for other protocols). Returns the
   * new state, or {@link CT_INVALID} when a TCP packet does not fit the state
   * (the state and timeout are then unchanged).
   */
  update(id: number, dir: number, flags: number, now: number): number {
    const proto = this.orig[id * FLOW_KEY_WORDS]! & 0xff;
    let s = this.state[id]!;
    if (proto !== PROTO_TCP) {
      if (dir === 1) s = REPLIED;
    } else {
      const ns = this.tcpNext(id, s, dir, flags);
      if (ns < 0) {
        this.invalid++;
        return CT_INVALID;
      }
      s = ns;
    }
    this.state[id] = s;
    this.expires[id] = now + this.timeoutOf(id);
    return s;
  }

  private tcpNext(id: number, s: number, dir: number, flags: number): number {
    const syn = (flags & TCP_SYN) !== 0;
    const ack = (flags & TCP_ACK) !== 0;
    const fin = (flags & TCP_FIN) !== 0;
    if (flags & TCP_RST) return TcpState.CLOSED;
    switch (s) {
      case TcpState.SYN_SENT:
        if (dir === 0) return syn && !ack ? s : -1;
        return syn ? TcpState.SYN_RECV : -1;
      case TcpState.SYN_RECV:
        if (dir === 1) return syn && ack ? s : -1;
        if (syn) return ack ? -1 : s;
        if (fin) {
          this.finDir[id] = 0;
          return TcpState.FIN_WAIT;
        }
        return ack ? TcpState.ESTABLISHED : -1;
      case TcpState.ESTABLISHED:
        if (syn) return -1;
        if (fin) {
          this.finDir[id] = dir;
          return TcpState.FIN_WAIT;
        }
        return s;
      case TcpState.FIN_WAIT:
        if (syn) return -1;
        if (dir !== this.finDir[id]) {
          if (fin) return TcpState.TIME_WAIT;
          if (ack) return TcpState.CLOSE_WAIT;
        }
        return s;
      case TcpState.CLOSE_WAIT:
        if (syn) return -1;
        if (dir !== this.finDir[id] && fin) return TcpState.TIME_WAIT;
        return s;
      case TcpState.TIME_WAIT:
        if (syn) return dir === 0 && !ack ? TcpState.SYN_SENT : -1;
        return s;
      case TcpState.CLOSED:
        return syn && dir === 0 && !ack ? TcpState.SYN_SENT : -1;
      default:
        return -1;
    }
  }

  /** Remove entry `id` (calls the removal hook first). */
  remove(id: number): void {
    if (!this.used[id]) return;
    this.onRemove?.(id);
    const b = id * FLOW_KEY_WORDS;
    this.table.delete(this.orig, b);
    this.table.delete(this.reply, b);
    this.used[id] = 0;
    this.free[this.freeTop++] = id;
  }

  /** Whether entry `id` is assured (TCP past the handshake, or other protocols with a reply seen). */
  assured(id: number): boolean {
    const s = this.state[id]!;
    return s === REPLIED || (s >= TcpState.ESTABLISHED && s <= TcpState.CLOSE_WAIT);
  }

  private makeRoom(now: number): boolean {
    const cap = this.capacity;
    let victim = -1;
    for (let n = 0; n < EVICT_SCAN; n++) {
      const id = this.hand;
      this.hand = this.hand + 1 === cap ? 0 : this.hand + 1;
      if (!this.used[id]) continue;
      if (this.expires[id]! <= now) {
        this.expired++;
        this.remove(id);
        return true;
      }
      if (victim < 0 && !this.assured(id)) victim = id;
    }
    if (victim >= 0 && this.earlyDrop) {
      this.evicted++;
      this.remove(victim);
      return true;
    }
    return false;
  }

  /** Remove up to `budget` expired entries, continuing a round-robin scan (called once per burst). */
  sweep(now: number, budget: number): void {
    const cap = this.capacity;
    for (let n = 0; n < budget; n++) {
      const id = this.hand;
      this.hand = this.hand + 1 === cap ? 0 : this.hand + 1;
      if (this.used[id] && this.expires[id]! <= now) {
        this.expired++;
        this.remove(id);
      }
    }
  }

  /** State name of entry `id` (for displays and tests). */
  stateName(id: number): string {
    return CT_STATE_NAMES[this.state[id]!] ?? "?";
  }

  /** Ids of the entries in use (allocates; control path). */
  ids(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.capacity; i++) if (this.used[i]) out.push(i);
    return out;
  }

  clear(): void {
    for (let i = 0; i < this.capacity; i++) if (this.used[i]) this.remove(i);
  }
}
