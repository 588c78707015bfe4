// Which config file and which account (`--profile`) an `api` command uses.
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AccountConfig, Config } from '../../config/schema.js';
import { UsageError } from '../../core/errors.js';

/** `--config`, else $MIMECAST_COLLECTOR_CONFIG, else ~/.config/mimecast-collector/config.yaml. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env['MIMECAST_COLLECTOR_CONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return join(env['HOME'] ?? homedir(), '.config', 'mimecast-collector', 'config.yaml');
}

/** The account named by `--profile`; without it the only account, or the one marked `default: true`. */
export function pickAccount(config: Config, profile: string | undefined, file: string): AccountConfig {
  const names = config.accounts.map((a) => a.name).join(', ');
  if (profile !== undefined) {
    const found = config.accounts.find((a) => a.name === profile);
    if (found === undefined) throw new UsageError(`--profile "${profile}" is not an account in ${file}; the accounts are: ${names}`);
    return found;
  }
  const only = config.accounts.length === 1 ? config.accounts[0] : config.accounts.find((a) => a.default);
  if (only === undefined) {
    throw new UsageError(`${file} has several accounts and none is marked "default: true": choose one with --profile (${names})`);
  }
  return only;
}
