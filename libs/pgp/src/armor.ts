// ASCII armor (RFC 4880 6.2) of a detached signature as GnuPG and openpgp.js write it, decoded
// without openpgp.js's stream reader. Only the plain form is read here: anything else (armor
// headers, stray whitespace, a checksum that does not match) answers null and the caller hands
// the text to openpgp.js, so what is accepted or refused is still openpgp.js's decision.

const BEGIN = '-----BEGIN PGP SIGNATURE-----';
const END = '-----END PGP SIGNATURE-----';
const BASE64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;
const CHECKSUM_LINE = /^=[A-Za-z0-9+/]{4}$/;

/** CRC-24 (RFC 4880 6.1) of each byte value, for a byte at a time. */
const CRC24_TABLE = Uint32Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 16;
  for (let bit = 0; bit < 8; bit++) {
    crc <<= 1;
    if (crc & 0x1000000) crc ^= 0x1864cfb;
  }
  return crc & 0xffffff;
});

/** RFC 4880 6.1's CRC-24 of `bytes`. */
export function crc24(bytes: Uint8Array): number {
  let crc = 0xb704ce;
  for (const byte of bytes) crc = ((crc << 8) & 0xffffff) ^ CRC24_TABLE[(crc >>> 16) ^ byte]!;
  return crc;
}

/** The packets of an armored signature in the plain form; null for any other text. */
export function dearmorSignature(text: string): Uint8Array | null {
  const lines = text.trim().split(/\r?\n/);
  if (lines.length < 4 || lines[0] !== BEGIN || lines[1] !== '' || lines[lines.length - 1] !== END) return null;
  let end = lines.length - 1;
  const checksum = CHECKSUM_LINE.test(lines[end - 1]!) ? lines[--end]! : null;
  const body = lines.slice(2, end);
  if (body.length === 0 || !body.every((line) => BASE64_LINE.test(line))) return null;
  const base64 = body.join('');
  if (base64.length % 4 !== 0 || /=[^=]/.test(base64)) return null;
  const bytes = Buffer.from(base64, 'base64');
  if (checksum !== null && Buffer.from(checksum.slice(1), 'base64').readUIntBE(0, 3) !== crc24(bytes)) return null;
  return bytes;
}
