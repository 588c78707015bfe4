// What the benchmarks read of the collector they run: its CPU time and peak RSS (/proc), and events delivered (/status).
import { readFileSync } from 'node:fs';

/** Extra node options from an environment variable (BENCH_NODE_ARGS, ...), split on spaces: `--cpu-prof --cpu-prof-dir=DIR`. */
export function nodeArgsFrom(variable: string): string[] {
  return (process.env[variable] ?? '').split(' ').filter((a) => a !== '');
}

/** CPU seconds (user + system) and peak RSS of a process, from /proc. */
export function procStat(pid: number): { cpuSeconds: number; peakRssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
  return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100, peakRssMb: hwm !== null ? Number(hwm[1]) / 1024 : NaN };
}

/**
 * Events the collector's first sink has delivered, from its /status on 127.0.0.1:`port` (0 while it does not answer,
 * or takes over 30 s: a collector that exited may have left its port to a process that never answers).
 */
export async function deliveredFromStatus(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(30_000) });
    const body = (await res.json()) as { sinks?: { delivered?: number }[] };
    return body.sinks?.[0]?.delivered ?? 0;
  } catch {
    return 0;
  }
}
