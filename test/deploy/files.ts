import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '@signet/store';

/** The checkout's root. */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

export const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/**
 * Variables the deployment files set that the configuration schema does not read yet: issue 14's
 * other items name them (S3 blobs, the worker's HTTP port, the log level) and are being written on
 * other branches. Once merged they are in CONFIG_VARIABLES and this list only lets a removal slip.
 */
export const PENDING_VARIABLES = new Set<string>();

/** Read by the S3 client for SIGNET_BLOB_URL, not by Signet's schema. */
export const S3_CLIENT_VARIABLES = new Set([
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
]);

/** Variables a deployment file gives Signet that no part of Signet reads: a typo, or a variable renamed since. */
export function unknownVariables(names: Iterable<string>): string[] {
  const known = new Set(CONFIG_VARIABLES);
  return [...names].filter((n) => !known.has(n) && !PENDING_VARIABLES.has(n) && !S3_CLIENT_VARIABLES.has(n));
}

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  secrets?: (string | { source: string; target?: string })[];
  volumes?: string[];
  user?: string;
  privileged?: boolean;
  read_only?: boolean;
  cap_drop?: string[];
  restart?: string;
  ports?: string[];
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file?: string }>;
  volumes?: Record<string, unknown>;
}

/** compose.yaml as compose reads it: YAML merge keys (`<<`) applied, `${…}` left as written. */
export function composeFile(): ComposeFile {
  return parse(read('compose.yaml'), { merge: true }) as ComposeFile;
}

/**
 * A value as compose interpolates it from an environment (`${X}`, `${X:-default}`,
 * `${X:?message}` for a required one, `$$` for a dollar); a required variable missing throws.
 */
export function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}/g,
    (whole, name?: string, op?: string, arg = '') => {
      if (whole === '$$') return '$';
      const v = env[name!];
      if (v !== undefined && v !== '') return v;
      if (op === ':?') throw new Error(`${name} is required: ${arg}`);
      return op === ':-' ? arg : '';
    },
  );
}

/** The Signet services of compose.yaml: those that run the image built from ./Dockerfile. */
export function signetServices(compose: ComposeFile): [string, ComposeService][] {
  return Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
}

export const commandOf = (s: ComposeService) => (Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? ''));

/** A systemd unit file: each section's settings, in order, repeated keys kept. */
export type Unit = Map<string, [string, string][]>;

export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: [string, string][] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = [];
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`not a unit file line: ${line}`);
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** Every value of `key` in `section`. */
export const settings = (unit: Unit, section: string, key: string) =>
  (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);

/** An environment file as systemd reads it (KEY=VALUE lines, # comments; no quotes used in ours). */
export function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`not an environment file line: ${line}`);
    env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

export const UNITS = ['signet-init.service', 'signet-api@.service', 'signet-worker@.service'] as const;
export const unitFile = (name: string) => parseUnit(read(`deploy/systemd/${name}`));
