import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** A text file's content, or null when it cannot be read. */
export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Writes a file whole or not at all (a temporary file renamed over it). */
export function writeAtomically(path: string, content: string, mode?: number): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, content, mode === undefined ? undefined : { mode });
  renameSync(temporary, path);
}

/** This host's time — or, in tests only, the instant in SIGNET_CLOCK_FILE (as the server reads it). */
export function hostNow(): Date {
  const file = process.env.SIGNET_CLOCK_FILE;
  return file ? new Date(readFileSync(file, 'utf8').trim()) : new Date();
}
