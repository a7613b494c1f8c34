/**
 * When to restart a crashed server. Pure, time comes in as numbers (ms), so it is unit-tested.
 *
 * Exponential backoff (1 s, 2 s, 4 s … capped at 30 s) so a server that dies at once does not spin
 * the CPU; after `maxCrashes` crashes within `windowMs` it gives up and the user is told. A server
 * that ran for `stableAfterMs` is considered healthy again and the backoff starts over.
 */
export interface RestartPolicyOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  maxCrashes: number;
  windowMs: number;
  stableAfterMs: number;
}

export const DEFAULT_RESTART_OPTIONS: RestartPolicyOptions = {
  initialDelayMs: 1000,
  maxDelayMs: 30000,
  maxCrashes: 5,
  windowMs: 3 * 60 * 1000,
  stableAfterMs: 60 * 1000,
};

export type RestartDecision = { restart: true; delayMs: number; attempt: number } | { restart: false; reason: string };

export class RestartPolicy {
  private crashes: number[] = [];
  private startedAt: number | null = null;

  constructor(private readonly options: RestartPolicyOptions = DEFAULT_RESTART_OPTIONS) {}

  /** Call when a server process has started (or been restarted). */
  started(now: number): void {
    this.startedAt = now;
  }

  /** Call when the user restarts by hand: forget past crashes. */
  reset(): void {
    this.crashes = [];
    this.startedAt = null;
  }

  /** Call when the server process ended unexpectedly; says whether and when to start it again. */
  crashed(now: number): RestartDecision {
    if (this.startedAt !== null && now - this.startedAt >= this.options.stableAfterMs) {
      this.crashes = [];
    }
    this.startedAt = null;
    this.crashes = this.crashes.filter((t) => now - t < this.options.windowMs);
    this.crashes.push(now);
    const attempt = this.crashes.length;
    if (attempt > this.options.maxCrashes) {
      const minutes = Math.round(this.options.windowMs / 60000);
      return {
        restart: false,
        reason: `SemCoder's language server crashed ${attempt} times in ${minutes} minutes, so it was not restarted again. See the logs, then run "SemCoder: Restart server".`,
      };
    }
    const delayMs = Math.min(this.options.maxDelayMs, this.options.initialDelayMs * 2 ** (attempt - 1));
    return { restart: true, delayMs, attempt };
  }
}
