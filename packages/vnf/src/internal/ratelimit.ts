/**
 * Token bucket for rate-limiting generated ICMP messages (RFC 1812 §4.3.2.8,
 * RFC 4443 §2.4(f)): `rate` tokens per second, at most `burst` saved.
 */
export class TokenBucket {
  private tokens: number;
  private last = Number.NaN;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Take one token at time `now` (ms); false when none is left. */
  take(now: number): boolean {
    if (Number.isNaN(this.last)) this.last = now;
    const dt = now - this.last;
    if (dt > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (dt * this.rate) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
