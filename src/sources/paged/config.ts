// The `streams.<name>` block of each time-window stream (TTP, audit, DLP, held release, archive search).
import { z } from 'zod';
import { durationIn } from '../../config/common.js';

/** The time-window functions (TTP, audit, DLP, held release, archive search): one cursor per stream. */
export const pagedStreamSchema = z.strictObject({
  /** Each cycle re-reads this much before the last window's end, so records the API indexes late are caught. 0s–1d, default 10m. */
  overlap: durationIn('0s', '1d').prefault('10m'),
  /** The newest part of the timeline left for the next cycle, so a window is only read once the API has filled it. 0s–1d, default 1m. */
  settle: durationIn('0s', '1d').prefault('1m'),
  /** Records per API page (1–500). */
  page_size: z.number().int().min(1).max(500).default(500),
  /** Longest time window asked for in one paginated walk. 1m–60d (the longest the API looks back), default 1d. */
  max_window: durationIn('1m', '60d').prefault('1d'),
});

export type PagedStreamConfig = z.output<typeof pagedStreamSchema>;
