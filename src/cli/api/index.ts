// `mimecast-collector api RESOURCE ACTION [options]`: parses the command line, picks the profile, runs the action, prints, maps errors to exit codes.
import type { Writable } from 'node:stream';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createAccountClient, type AccountClient } from '../../app.js';
import { loadConfig } from '../../config/load.js';
import { ApiError, ConfigError, UsageError, isAbort, isCollectorError, describeError } from '../../core/errors.js';
import { createLogger, type Logger } from '../../telemetry/logger.js';
import { println, type CommandIo } from '../io.js';
import { printConfigError } from '../validate.js';
import { DEFAULT_PAGE_SIZE, createContext } from './context.js';
import { configPath, pickAccount } from './profile.js';
import { API_ACTIONS } from './registry.js';
import type { ApiAction, ApiResult, OptionValues } from './spec.js';
import { cellText, renderTable } from './table.js';

export const API_OUTPUTS = ['table', 'json'] as const;

/** What `api` needs from main.ts: CommandIo with stdin, and optionally a logger (tests: one on their stderr). */
export interface ApiIo extends CommandIo {
  stdin: NonNullable<CommandIo['stdin']> & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean };
  logger?: Logger;
}

function positiveInt(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`expected a whole number from 1 to ${max}`);
    return n;
  };
}

function addOptions(cmd: Command, action: ApiAction): void {
  for (const o of action.options) {
    const opt = new Option(o.flags, o.description);
    if (o.required === true) opt.makeOptionMandatory();
    if (o.choices !== undefined) opt.choices(o.choices);
    if (o.default !== undefined) opt.default(o.default);
    cmd.addOption(opt);
  }
  cmd.option('-c, --config <file>', 'config file (default: $MIMECAST_COLLECTOR_CONFIG, else ~/.config/mimecast-collector/config.yaml)');
  cmd.option('-p, --profile <name>', 'the account to use (default: the only one, or the one marked default: true)');
  cmd.addOption(new Option('-o, --output <format>', 'table or json (default: table on a terminal, json when piped)').choices(API_OUTPUTS));
  cmd.option('-n, --limit <n>', 'print at most this many records', positiveInt(1_000_000_000));
  cmd.option('--page-size <n>', `records asked for per API call (1-500, default ${DEFAULT_PAGE_SIZE})`, positiveInt(500));
  if (action.kind !== 'read') cmd.option('--dry-run', 'print the request that would be sent (secrets masked) and send nothing', false);
  if (action.kind === 'destructive') cmd.option('-y, --yes', 'do not ask for confirmation', false);
}

interface CommonOptions {
  config?: string;
  profile?: string;
  output?: (typeof API_OUTPUTS)[number];
  limit?: number;
  pageSize?: number;
  dryRun?: boolean;
  yes?: boolean;
}

function print(result: ApiResult, format: (typeof API_OUTPUTS)[number], io: ApiIo): void {
  if (format === 'json') {
    io.stdout.write(JSON.stringify(result.json ?? result.rows, null, 2) + '\n');
    return;
  }
  const headers = result.columns.map((c) => c.header);
  const rows = result.rows.map((r) => result.columns.map((c) => cellText(c.value(typeof r === 'object' && r !== null ? (r as Record<string, unknown>) : {}))));
  const width = typeof io.stdout.columns === 'number' && io.stdout.columns > 0 ? io.stdout.columns : 80;
  for (const line of renderTable(headers, rows, width)) println(io.stdout, line);
}

/** What an error means for the exit code, said on stderr: 1 for the API (with Mimecast's own code), 2 for usage. */
function report(err: unknown, io: ApiIo): number {
  if (err instanceof UsageError) {
    println(io.stderr, `error: ${err.message}`);
    return 2;
  }
  if (err instanceof ConfigError) {
    printConfigError(err, io);
    return 2;
  }
  if (err instanceof ApiError) {
    println(io.stderr, `error: ${err.apiCode ?? err.code}: ${err.message}`);
    return 1;
  }
  if (isCollectorError(err)) {
    println(io.stderr, `error: ${err.code}: ${describeError(err)}`);
    return 1;
  }
  throw err;
}

async function runAction(action: ApiAction, opts: OptionValues & CommonOptions, io: ApiIo): Promise<number> {
  const file = configPath(opts.config, io.env);
  let client: AccountClient | undefined;
  // Internal timers are unref()ed; this keeps the process alive while a call waits out a 429.
  const alive = setInterval(() => undefined, 1 << 30);
  try {
    // `api` only calls Mimecast: an admin-only config without sinks is fine here (the daemon still requires one).
    const config = loadConfig(file, io.env, 'admin');
    const account = pickAccount(config, opts.profile, file);
    const logger = io.logger ?? createLogger({ level: 'info' });
    client = createAccountClient(account, logger);
    const ctx = createContext({
      account,
      api: client.api,
      logger,
      io,
      now: Date.now(),
      limit: opts.limit,
      pageSize: opts.pageSize ?? DEFAULT_PAGE_SIZE,
      dryRun: opts.dryRun === true,
      yes: opts.yes === true,
      command: `${action.resource} ${action.action}`,
    });
    const result = await action.run(ctx, opts);
    if (opts.dryRun !== true) print(result, opts.output ?? (io.stdout.isTTY === true ? 'table' : 'json'), io);
    return 0;
  } catch (err) {
    if (isAbort(err, io.signal) && io.signal.aborted) {
      println(io.stderr, 'interrupted');
      return 130;
    }
    return report(err, io);
  } finally {
    clearInterval(alive);
    await client?.close();
  }
}

/** Runs `api ...args` (the words after `api`); resolves to the exit code. `actions`: the commands (tests add their own). */
export async function apiMain(args: readonly string[], io: ApiIo, actions: readonly ApiAction[] = API_ACTIONS): Promise<number> {
  let exitCode = 0;
  const root = new Command('mimecast-collector api')
    .description('Mimecast administration over the collector\'s API clients: RESOURCE ACTION [options]')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  const resources = new Map<string, Command>();
  for (const action of actions) {
    let res = resources.get(action.resource);
    if (res === undefined) {
      res = root.command(action.resource).description(`${action.resource} commands`);
      resources.set(action.resource, res);
    }
    const cmd = res.command(action.action).description(action.description);
    addOptions(cmd, action);
    cmd.action(async (opts: OptionValues & CommonOptions) => {
      exitCode = await runAction(action, opts, io);
    });
  }
  try {
    await root.parseAsync([...args], { from: 'user' });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      // --help asked for: 0; help shown because an action was missing, or any parse error: a usage error.
      return (err as { exitCode?: unknown }).exitCode === 0 ? 0 : 2;
    }
    throw err;
  }
  return exitCode;
}
