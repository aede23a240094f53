import { DomainError } from './errors.js';

// FreePBX module.sig: INI text, clear-signed. `[config]` (version 1 or 2, hash=sha256,
// signedwith, signedby, repo, and in v2 type and expiresafter) and `[hashes]`
// (`relative/path = sha256hex`). Lines starting with ";" are comments; some files end in ";# End".

export interface ModuleSig {
  readonly config: Readonly<Record<string, string>>;
  /** Relative path → lower-case SHA-256 hex, in file order. */
  readonly hashes: Readonly<Record<string, string>>;
}

const MAX_FILES = 100_000;

function unquote(value: string): string {
  return /^'.*'$|^".*"$/.test(value) ? value.slice(1, -1) : value;
}

/** A path as FreePBX lists it: relative, "/"-separated, without "." or ".." segments. */
export function isSafeModulePath(path: string): boolean {
  if (path.length === 0 || path.length > 1024 || path.startsWith('/') || path.includes('\\') || path.includes('\0'))
    return false;
  return path.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/** Parses module.sig text (the clear-signed body, already verified or not). */
export function parseModuleSig(text: string): ModuleSig {
  const config: Record<string, string> = {};
  const hashes: Record<string, string> = {};
  let section: 'config' | 'hashes' | null = null;
  let count = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      const name = header[1]!.toLowerCase();
      if (name !== 'config' && name !== 'hashes')
        throw new DomainError('BAD_MODULE_SIG', `module.sig has an unknown section [${name}]`);
      section = name;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || section === null)
      throw new DomainError(
        'BAD_MODULE_SIG',
        `module.sig line "${line.slice(0, 80)}" is not "key = value" inside [config] or [hashes]`,
      );
    const key = line.slice(0, eq).trim();
    const value = unquote(line.slice(eq + 1).trim());
    if (section === 'config') {
      config[key] = value;
    } else {
      if (!isSafeModulePath(key))
        throw new DomainError('BAD_MODULE_SIG', `module.sig lists an unsafe path "${key.slice(0, 80)}"`);
      if (!/^[0-9a-fA-F]{64}$/.test(value))
        throw new DomainError(
          'BAD_MODULE_SIG',
          `module.sig gives "${key.slice(0, 80)}" a hash that is not SHA-256 hex`,
        );
      if (++count > MAX_FILES) throw new DomainError('BAD_MODULE_SIG', `module.sig lists more than ${MAX_FILES} files`);
      hashes[key] = value.toLowerCase();
    }
  }
  if (!config.version) throw new DomainError('BAD_MODULE_SIG', 'module.sig has no [config] version');
  if (config.version !== '1' && config.version !== '2')
    throw new DomainError('UNSUPPORTED_MODULE_SIG', `module.sig version ${config.version} is not 1 or 2`);
  if ((config.hash ?? '').toLowerCase() !== 'sha256')
    throw new DomainError('UNSUPPORTED_MODULE_SIG', `module.sig hashes with "${config.hash ?? ''}", not sha256`);
  if (count === 0) throw new DomainError('BAD_MODULE_SIG', 'module.sig lists no files in [hashes]');
  return { config, hashes };
}

/** The unsigned module.sig body for a module's files (for `gpg --clearsign`), as FreePBX writes it. */
export function formatModuleSig(
  hashes: Readonly<Record<string, string>>,
  config: Readonly<Record<string, string>> = {},
): string {
  const lines = [
    ';################################################',
    ';#        FreePBX Module Signature File         #',
    ';################################################',
    ';# Do not alter the contents of this file!  If  #',
    ';# this file is tampered with, the module will  #',
    ';# fail validation and be marked as invalid!    #',
    ';################################################',
    '',
    '[config]',
    ...Object.entries({ version: '1', hash: 'sha256', ...config }).map(([k, v]) => `${k}=${v}`),
    '[hashes]',
    ...Object.entries(hashes).map(([path, hash]) => `${path} = ${hash}`),
    ';# End',
    '',
  ];
  return lines.join('\n');
}
