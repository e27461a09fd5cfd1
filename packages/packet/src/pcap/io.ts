/**
 * Byte plumbing for capture files: where bytes come from (a path, a file
 * descriptor, a FileHandle, an async iterable of chunks, or bytes in
 * memory) and where they go (a file, or memory).
 *
 * {@link BufferedInput} reads a source in chunks into one buffer that only
 * grows to the largest single block or record it is asked for, so a reader
 * walks a capture of any size in bounded memory.
 */
import { open, type FileHandle } from "node:fs/promises";
import { read as fsRead, write as fsWrite } from "node:fs";
import { PcapError } from "../errors.js";

/** A pull source of bytes: `read` fills up to `length` bytes and resolves the count, 0 at the end. */
export interface ByteSource {
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
  close(): Promise<void>;
}

/** What a capture reader accepts. A string is a path; a number is an open file descriptor (not closed by the reader). */
export type CaptureInput = string | number | FileHandle | AsyncIterable<Uint8Array> | Uint8Array;

class FileHandleSource implements ByteSource {
  constructor(
    private readonly fh: FileHandle,
    private readonly owned: boolean,
  ) {}
  async read(into: Uint8Array, offset: number, length: number): Promise<number> {
    const r = await this.fh.read(into, offset, length, null);
    return r.bytesRead;
  }
  async close(): Promise<void> {
    if (this.owned) await this.fh.close();
  }
}

class FdSource implements ByteSource {
  constructor(private readonly fd: number) {}
  read(into: Uint8Array, offset: number, length: number): Promise<number> {
    return new Promise((resolve, reject) => {
      fsRead(this.fd, into, offset, length, null, (err, n) => (err ? reject(err) : resolve(n)));
    });
  }
  async close(): Promise<void> {}
}

class IterableSource implements ByteSource {
  private readonly it: AsyncIterator<Uint8Array>;
  private pending: Uint8Array | null = null;
  private done = false;
  constructor(iterable: AsyncIterable<Uint8Array>) {
    this.it = iterable[Symbol.asyncIterator]();
  }
  async read(into: Uint8Array, offset: number, length: number): Promise<number> {
    while (this.pending === null || this.pending.length === 0) {
      if (this.done) return 0;
      const r = await this.it.next();
      if (r.done === true) {
        this.done = true;
        return 0;
      }
      this.pending = r.value instanceof Uint8Array ? r.value : new Uint8Array(r.value as ArrayBuffer);
    }
    const n = Math.min(length, this.pending.length);
    into.set(this.pending.subarray(0, n), offset);
    this.pending = this.pending.subarray(n);
    return n;
  }
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.();
    }
  }
}

/** Open any {@link CaptureInput} as a source. */
export async function openSource(input: Exclude<CaptureInput, Uint8Array>): Promise<ByteSource> {
  if (typeof input === "string") {
    try {
      return new FileHandleSource(await open(input, "r"), true);
    } catch (e) {
      throw new PcapError("io", 0, `cannot open ${input}: ${(e as Error).message}`, { cause: e });
    }
  }
  if (typeof input === "number") return new FdSource(input);
  if (Symbol.asyncIterator in input) return new IterableSource(input);
  return new FileHandleSource(input, false);
}

/**
 * A window over a byte source. `bytes[index]` is the byte at file offset
 * `position`; `available` bytes are buffered from there.
 */
export class BufferedInput {
  /** Buffer; valid from `index` for `available` bytes. Replaced when it grows. */
  bytes: Uint8Array;
  index = 0;
  private end = 0;
  /** File offset of bytes[0]. */
  private base = 0;
  private eof: boolean;
  private readonly source: ByteSource | null;
  private readonly chunkSize: number;

  constructor(source: ByteSource | Uint8Array, chunkSize = 1 << 16) {
    this.chunkSize = Math.max(64, chunkSize);
    if (source instanceof Uint8Array) {
      this.bytes = source;
      this.end = source.length;
      this.eof = true;
      this.source = null;
    } else {
      this.bytes = new Uint8Array(this.chunkSize);
      this.eof = false;
      this.source = source;
    }
  }

  /** File offset of the next unread byte. */
  get position(): number {
    return this.base + this.index;
  }

  get available(): number {
    return this.end - this.index;
  }

  /** Size of the internal buffer (tests check it stays bounded). */
  get capacity(): number {
    return this.bytes.length;
  }

  /**
   * Make at least `n` bytes available from the current position, reading
   * more as needed. Resolves the number available: less than `n` only at
   * the end of the input.
   */
  async fill(n: number): Promise<number> {
    if (this.end - this.index >= n || this.eof || this.source === null) return this.end - this.index;
    if (this.bytes.length - this.index < n || this.bytes.length - this.end < this.chunkSize >> 2) {
      // Move the unread bytes to the front, growing the buffer if one
      // block is larger than it.
      const keep = this.end - this.index;
      if (n > this.bytes.length) {
        const next = new Uint8Array(n);
        next.set(this.bytes.subarray(this.index, this.end), 0);
        this.bytes = next;
      } else {
        this.bytes.copyWithin(0, this.index, this.end);
      }
      this.base += this.index;
      this.index = 0;
      this.end = keep;
    }
    while (this.end - this.index < n) {
      const room = this.bytes.length - this.end;
      let got: number;
      try {
        got = await this.source.read(this.bytes, this.end, room);
      } catch (e) {
        throw new PcapError("io", this.base + this.end, `read failed: ${(e as Error).message}`, { cause: e });
      }
      if (got === 0) {
        this.eof = true;
        break;
      }
      this.end += got;
    }
    return this.end - this.index;
  }

  /** Advance past `n` buffered bytes. */
  consume(n: number): void {
    this.index += n;
  }

  async close(): Promise<void> {
    await this.source?.close();
  }
}

/** Where writers put bytes. `write` may keep no reference to `bytes` after it resolves. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

class FileSink implements ByteSink {
  constructor(private readonly fh: FileHandle) {}
  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const r = await this.fh.write(bytes, done, bytes.length - done);
      done += r.bytesWritten;
    }
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
}

class FdSink implements ByteSink {
  constructor(private readonly fd: number) {}
  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      done += await new Promise<number>((resolve, reject) => {
        fsWrite(this.fd, bytes, done, bytes.length - done, null, (err, n) => (err ? reject(err) : resolve(n)));
      });
    }
  }
  async close(): Promise<void> {}
}

/** Open a file for writing ("w" truncates, "a" appends). */
export async function fileSink(path: string, mode: "w" | "a"): Promise<ByteSink> {
  try {
    return new FileSink(await open(path, mode));
  } catch (e) {
    throw new PcapError("io", 0, `cannot open ${path} for writing: ${(e as Error).message}`, { cause: e });
  }
}

/** A sink over an open file descriptor (left open on close). */
export function fdSink(fd: number): ByteSink {
  return new FdSink(fd);
}

/** A sink that keeps everything in memory; {@link MemorySink.bytes} concatenates it. */
export class MemorySink implements ByteSink {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  async write(bytes: Uint8Array): Promise<void> {
    this.chunks.push(bytes.slice());
    this.size += bytes.length;
  }
  async close(): Promise<void> {}
  /** Everything written so far, as one array. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}
