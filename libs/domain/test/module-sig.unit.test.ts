import { describe, expect, it } from 'vitest';
import { formatModuleSig, isSafeModulePath, parseModuleSig } from '@signet/domain';

const H = 'a'.repeat(64);

describe('FreePBX module.sig', () => {
  it('parses version 1 and 2 files with comments, quotes and the ";# End" trailer', () => {
    const v1 = `;####\n;# FreePBX Module Signature File\n;####\n\n[config]\nversion=1\nhash=sha256\nsignedwith=86CE877469D2EAD9\nsignedby='sign.php'\nrepo=standard\n[hashes]\nmodule.xml = ${H}\nassets/js/x.js = ${'B'.repeat(64)}\n;# End\n`;
    expect(parseModuleSig(v1)).toEqual({
      config: { version: '1', hash: 'sha256', signedwith: '86CE877469D2EAD9', signedby: 'sign.php', repo: 'standard' },
      hashes: { 'module.xml': H, 'assets/js/x.js': 'b'.repeat(64) },
    });
    const v2 = `[config]\r\nversion=2\r\nhash=sha256\r\ntype=public\r\nexpiresafter=1700000000\r\n[hashes]\r\nmodule.xml = ${H}\r\n`;
    expect(parseModuleSig(v2).config.expiresafter).toBe('1700000000');
  });
  it('round-trips what formatModuleSig writes', () => {
    const hashes = { 'module.xml': H, 'page.x.php': 'c'.repeat(64) };
    expect(parseModuleSig(formatModuleSig(hashes)).hashes).toEqual(hashes);
  });
  it('refuses malformed, unsupported and unsafe files', () => {
    const cases: [string, string][] = [
      ['[config]\nhash=sha256\n[hashes]\na = ' + H, 'BAD_MODULE_SIG'],
      ['[config]\nversion=3\nhash=sha256\n[hashes]\na = ' + H, 'UNSUPPORTED_MODULE_SIG'],
      ['[config]\nversion=1\nhash=md5\n[hashes]\na = ' + H, 'UNSUPPORTED_MODULE_SIG'],
      ['[config]\nversion=1\nhash=sha256\n[hashes]\n', 'BAD_MODULE_SIG'],
      ['[config]\nversion=1\nhash=sha256\n[hashes]\n../etc/passwd = ' + H, 'BAD_MODULE_SIG'],
      ['[config]\nversion=1\nhash=sha256\n[hashes]\n/abs = ' + H, 'BAD_MODULE_SIG'],
      ['[config]\nversion=1\nhash=sha256\n[hashes]\na = nothex', 'BAD_MODULE_SIG'],
      ['version=1', 'BAD_MODULE_SIG'],
      ['[other]\nx=1', 'BAD_MODULE_SIG'],
    ];
    for (const [text, code] of cases)
      expect(() => parseModuleSig(text), text).toThrow(expect.objectContaining({ code }));
    expect(isSafeModulePath('a/./b')).toBe(false);
    expect(isSafeModulePath('a//b')).toBe(false);
    expect(isSafeModulePath('a\\b')).toBe(false);
  });
});
