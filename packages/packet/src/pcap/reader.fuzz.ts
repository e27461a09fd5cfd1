/**
 * Fuzz target for the capture readers: any bytes either read to the end or
 * fail with a {@link PcapError} whose offset is inside the input, in
 * bounded steps, and reading the same bytes in small chunks (as from a
 * stream) gives the same records and the same error.
 */
import { PcapError } from "../errors.js";
import { openCapture, type CaptureRecord, type ReadOptions } from "./reader.js";

interface Outcome {
  records: CaptureRecord[];
  error: PcapError | null;
}

async function readAll(input: Uint8Array | AsyncIterable<Uint8Array>, length: number, opts: ReadOptions): Promise<Outcome> {
  const records: CaptureRecord[] = [];
  try {
    const r = await openCapture(input, opts);
    // Each record consumes at least 12 bytes, so more than length/12 + 1 records means a loop.
    for (let n = 0; ; n++) {
      if (n > length / 12 + 1) throw new Error(`reader produced ${n} records from ${length} bytes`);
      const rec = await r.next();
      if (rec === null) break;
      records.push(rec);
    }
    await r.close();
    return { records, error: null };
  } catch (e) {
    if (!(e instanceof PcapError)) throw new Error(`reader threw a non-PcapError: ${String(e)}`);
    if (e.offset < 0 || e.offset > length) throw new Error(`PcapError offset ${e.offset} outside the ${length}-byte input`);
    return { records, error: e };
  }
}

async function* chunks(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Check the readers on `input`; throws an Error on a violation. */
export async function fuzzCaptureTarget(input: Uint8Array, chunkSize = 7): Promise<void> {
  const opts: ReadOptions = { maxBlockSize: 1 << 16, maxCaplen: 1 << 16 };
  const whole = await readAll(input, input.length, opts);
  const streamed = await readAll(chunks(input, chunkSize), input.length, { ...opts, chunkSize: 64 });
  if (whole.records.length !== streamed.records.length) {
    throw new Error(`whole input gave ${whole.records.length} records, chunks of ${chunkSize} gave ${streamed.records.length}`);
  }
  for (let i = 0; i < whole.records.length; i++) {
    const a = whole.records[i]!;
    const b = streamed.records[i]!;
    if (a.fileOffset !== b.fileOffset || a.timestampNs !== b.timestampNs || a.data.length !== b.data.length || !a.data.every((x, j) => x === b.data[j])) {
      throw new Error(`record ${i} differs between whole and chunked reads`);
    }
  }
  if ((whole.error === null) !== (streamed.error === null) || (whole.error !== null && whole.error.message !== streamed.error!.message)) {
    throw new Error(`errors differ: ${whole.error?.message} vs ${streamed.error?.message}`);
  }
}
