import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/** gpg time format for --faked-system-time. */
function gpgTime(at: Date): string {
  return `${at.toISOString().replace(/[-:]/g, '').slice(0, 15)}!`;
}

/** Real GnuPG in a throwaway home directory, with its clock set per call. */
export class Gpg {
  readonly home = mkdtempSync(join(tmpdir(), 'signet-gpg-'));

  run(args: string[], at?: Date, input?: string): string {
    const time = at ? ['--faked-system-time', gpgTime(at)] : [];
    return execFileSync('gpg', ['--homedir', this.home, '--batch', '--yes', '--no-tty', '--quiet', ...time, ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  genKey(userId: string, algo: string, at: Date): string {
    this.run(['--passphrase', '', '--quick-gen-key', userId, algo, 'sign', 'never'], at);
    const email = /<([^>]+)>/.exec(userId)![1]!;
    const colons = this.run(['--with-colons', '--list-keys', `<${email}>`]);
    return /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1]!;
  }

  /** Several keys at once: name → user ID (RSA-4096 unless `algo` says otherwise) gives name → fingerprint. */
  genKeys(users: Record<string, string | [string, string]>, at: Date): Record<string, string> {
    return Object.fromEntries(
      Object.entries(users).map(([name, user]) => [
        name,
        Array.isArray(user) ? this.genKey(user[0], user[1], at) : this.genKey(user, 'rsa4096', at),
      ]),
    );
  }

  /**
   * Copies another home's keys (public and private, trust database) into this one, which must not
   * have been used yet: keys made once (RSA-4096 takes a second or more each) for several stories
   * of one file, each then certifying and signing in its own home as if it had made them. The
   * other home's agent sockets and lock files stay behind.
   */
  copyKeysFrom(other: Gpg): void {
    cpSync(other.home, this.home, {
      recursive: true,
      filter: (path) => !/^S\.|\.lock$|^\.#lk/.test(basename(path)),
    });
  }

  exportKey(fpr: string): string {
    return this.run(['--armor', '--export', fpr]);
  }

  /** `gpg --export A B …` without --armor: a binary keyring, as bytes. */
  exportBinary(...fprs: string[]): Buffer {
    return execFileSync('gpg', ['--homedir', this.home, '--batch', '--no-tty', '--quiet', '--export', ...fprs], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** `gpg -u certifier --quick-sign-key target`: a certification, as a leader would make it. */
  certify(certifier: string, target: string, at: Date): void {
    this.run(['-u', certifier, '--quick-sign-key', target], at);
  }

  /** `gpg -u certifier --quick-revoke-sig target certifier`. */
  revokeCertification(certifier: string, target: string, at: Date): void {
    this.run(['-u', certifier, '--quick-revoke-sig', target, certifier], at);
  }

  /**
   * `gpg --gen-revoke`: a standalone key revocation certificate, answering gpg's prompts. `reason`
   * is gpg's menu: 0 no reason, 1 compromised, 2 superseded, 3 no longer used.
   */
  genRevoke(fpr: string, reason: 0 | 1 | 2 | 3, description: string, at: Date): string {
    const answers = `y\n${reason}\n${description}\n\ny\n`;
    return execFileSync(
      'gpg',
      [
        '--homedir',
        this.home,
        '--yes',
        '--no-tty',
        '--command-fd',
        '0',
        '--faked-system-time',
        gpgTime(at),
        '--armor',
        '--gen-revoke',
        fpr,
      ],
      { encoding: 'utf8', input: answers, stdio: ['pipe', 'pipe', 'pipe'] },
    );
  }

  /** `gpg --import` (a revocation certificate, another keyring's export). */
  importKey(armored: string): void {
    this.run(['--import'], undefined, armored);
  }

  /** `gpg --detach-sign --armor` over bytes. */
  detachSign(signer: string, data: string | Buffer, at: Date, digest = 'SHA512'): string {
    const dir = mkdtempSync(join(tmpdir(), 'signet-sig-'));
    try {
      writeFileSync(join(dir, 'data'), data);
      this.run(
        [
          '-u',
          signer,
          '--armor',
          '--digest-algo',
          digest,
          '--detach-sign',
          '-o',
          join(dir, 'data.asc'),
          join(dir, 'data'),
        ],
        at,
      );
      return readFileSync(join(dir, 'data.asc'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** `gpg --clearsign`, as FreePBX signs module.sig. */
  clearSign(signer: string, text: string, at: Date, digest = 'SHA512'): string {
    return this.run(['-u', signer, '--digest-algo', digest, '--clearsign'], at, text);
  }

  /** Stops this home's gpg-agent (it outlives the directory otherwise) and deletes the home. */
  remove(): void {
    try {
      execFileSync('gpgconf', ['--homedir', this.home, '--kill', 'all'], { stdio: 'ignore' });
    } catch {
      // no agent was started
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}
