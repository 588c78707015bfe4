// Shared plumbing of the `api` CLI tests: a config with one API 2.0 and one API 1.0 profile on a simulator, and `api ...` run in this process.
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { apiMain, type ApiIo } from '../../src/cli/api/index.js';
import type { ApiAction } from '../../src/cli/api/spec.js';
import type { RunningSimulator } from '../../src/simulator/index.js';

/** The profiles every `api` test runs on: `cloud` (API 2.0, OAuth) and `legacy` (API 1.0, HMAC), one simulated account. */
export const PROFILES = ['cloud', 'legacy'] as const;

/**
 * The config: `cloud` marked default unless `defaultAccount` is 'none', then `extraAccounts` (YAML lines); a stdout
 * sink unless `sinks` is false (an admin-only config, as `api` accepts it).
 */
export function apiYaml(s: RunningSimulator, o: { defaultAccount?: 'v2' | 'none'; sinks?: boolean; extraAccounts?: readonly string[] } = {}): string {
  return [
    'accounts:',
    '  - name: cloud',
    `    base_url: ${s.url}`,
    `    client_id: ${JSON.stringify(s.clientId)}`,
    `    client_secret: ${JSON.stringify(s.clientSecret)}`,
    ...((o.defaultAccount ?? 'v2') === 'v2' ? ['    default: true'] : []),
    '    streams: { siem: {} }',
    '  - name: legacy',
    '    api: v1',
    `    base_url: ${s.url}`,
    `    app_id: ${JSON.stringify(s.appId)}`,
    `    app_key: ${JSON.stringify(s.appKey)}`,
    `    access_key: ${JSON.stringify(s.accessKey)}`,
    `    secret_key: ${JSON.stringify(s.secretKey)}`,
    '    streams: { siem: {} }',
    ...(o.extraAccounts ?? []),
    ...(o.sinks === false ? [] : ['sinks:', '  - { name: out, type: stdout }']),
    '',
  ].join('\n');
}

export interface ApiRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ApiRunOptions {
  /** stdout is a terminal (table output by default) of `columns` cells. */
  tty?: boolean;
  columns?: number;
  stdin?: PassThrough & { isTTY?: boolean };
  actions?: readonly ApiAction[];
}

/** Runs `api ...args` in this process with $HOME at `home`, stdout as a terminal or a pipe, and `stdin` as given. */
export async function runApi(home: string, args: readonly string[], o: ApiRunOptions = {}): Promise<ApiRun> {
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
    env: { HOME: home },
    signal: new AbortController().signal,
    logger: pino({ level: 'info', base: null }, err),
  };
  const code = await apiMain(args, io, o.actions);
  await new Promise((r) => setImmediate(r));
  return { code, stdout, stderr };
}
