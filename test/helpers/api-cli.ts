// `api` commands run in this process against a simulator: a config with one API 2.0 and one API 1.0 profile, and a runner capturing stdout/stderr.
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { apiMain, type ApiIo } from '../../src/cli/api/index.js';
import type { ApiAction } from '../../src/cli/api/spec.js';
import type { RunningSimulator } from '../../src/simulator/index.js';

/** The profiles of `apiYaml`: `cloud` on API 2.0 (OAuth), `legacy` on API 1.0 (HMAC), both on the same simulated account. */
export const API_PROFILES = ['cloud', 'legacy'] as const;

/** A config with the two profiles (and `extraAccounts`, YAML lines); `cloud` is marked default unless `defaultAccount` is 'none'. */
export function apiYaml(s: RunningSimulator, defaultAccount: 'v2' | 'none' = 'v2', extraAccounts: readonly string[] = []): string {
  return [
    'accounts:',
    '  - name: cloud',
    `    base_url: ${s.url}`,
    `    client_id: ${JSON.stringify(s.clientId)}`,
    `    client_secret: ${JSON.stringify(s.clientSecret)}`,
    ...(defaultAccount === 'v2' ? ['    default: true'] : []),
    '    streams: { siem: {} }',
    '  - name: legacy',
    '    api: v1',
    `    base_url: ${s.url}`,
    `    app_id: ${JSON.stringify(s.appId)}`,
    `    app_key: ${JSON.stringify(s.appKey)}`,
    `    access_key: ${JSON.stringify(s.accessKey)}`,
    `    secret_key: ${JSON.stringify(s.secretKey)}`,
    '    streams: { siem: {} }',
    ...extraAccounts,
    'sinks:',
    '  - { name: out, type: stdout }',
    '',
  ].join('\n');
}

export interface ApiRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ApiRunOptions {
  /** HOME for the default config path. */
  home: string;
  /** stdout is a terminal (table output by default) of `columns` cells. */
  tty?: boolean;
  columns?: number;
  stdin?: PassThrough & { isTTY?: boolean };
  actions?: readonly ApiAction[];
}

/** Runs `api ...args` in this process; the logger writes to the captured stderr, as the CLI's does. */
export async function runApi(args: readonly string[], o: ApiRunOptions): Promise<ApiRun> {
  let stdout = '';
  let stderr = '';
  const out = Object.assign(new PassThrough(), { isTTY: o.tty === true, columns: o.columns ?? 100 });
  const err = Object.assign(new PassThrough(), { isTTY: false });
  out.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  err.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const io: ApiIo = {
    stdin: o.stdin ?? Object.assign(new PassThrough(), { isTTY: false }),
    stdout: out,
    stderr: err,
    env: { HOME: o.home },
    signal: new AbortController().signal,
    logger: pino({ level: 'info', base: null }, err),
  };
  const code = await apiMain(args, io, o.actions);
  await new Promise((r) => setImmediate(r));
  return { code, stdout, stderr };
}
