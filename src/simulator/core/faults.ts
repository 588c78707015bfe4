// Injected faults: the current fault settings, the seeded dice that decide them, their counters, and slow replies.
import { Rng, mix } from '../prng.js';
import type { FaultCounterName, SimulatorFaults } from '../types.js';

export class Faults {
  /** The dice every fault decision draws from (seeded, so a run with the same seed and calls is repeatable). */
  readonly rng: Rng;
  private settings: SimulatorFaults;
  private readonly counters: Partial<Record<FaultCounterName, number>> = {};
  private readonly waits = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(seedH: number, initial: SimulatorFaults) {
    this.rng = new Rng(mix(seedH, 0xfa0175));
    this.settings = { ...initial };
  }

  current(): SimulatorFaults {
    return this.settings;
  }

  set(f: SimulatorFaults): void {
    this.settings = { ...f };
  }

  roll(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.rng.next() < p;
  }

  count(name: FaultCounterName): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
  }

  counted(name: FaultCounterName): number {
    return this.counters[name] ?? 0;
  }

  /** The injected slow reply: waits a random 0..slowReplyMs when the dice say so; `release` ends every wait. */
  async maybeSlow(): Promise<void> {
    const max = this.settings.slowReplyMs ?? 0;
    if (max <= 0 || !this.roll(this.settings.slowReplyRate ?? 1)) return;
    this.count('slowReply');
    const ms = this.rng.int(max + 1);
    await new Promise<void>((resolve) => {
      const w = {
        timer: setTimeout(() => {
          this.waits.delete(w);
          resolve();
        }, ms),
        resolve,
      };
      w.timer.unref();
      this.waits.add(w);
    });
  }

  /** Ends every pending slow reply at once (on close). */
  release(): void {
    for (const w of this.waits) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.waits.clear();
  }
}
