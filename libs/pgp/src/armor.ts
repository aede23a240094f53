// ASCII armor (RFC 4880 6.2) of a detached signature as GnuPG and openpgp.js write it, decoded
// without openpgp.js's stream reader. Only the plain form is read here — the BEGIN line first,
// no armor headers, base64 lines, an optional checksum line, the END line, at most one line end
// after it — and anything else (leading or stray whitespace, headers) answers null: the caller
// hands the text to openpgp.js, so what is accepted or refused is still openpgp.js's decision.
// The checksum is skipped, as openpgp.js 6 skips it.

const BEGIN = '-----BEGIN PGP SIGNATURE-----';
const END = '-----END PGP SIGNATURE-----';
const BASE64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;
const CHECKSUM_LINE = /^=[A-Za-z0-9+/]{4}$/;

/** The packets of an armored signature in the plain form; null for any other text. */
export function dearmorSignature(text: string): Uint8Array | null {
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop(); // the line end after the END line
  if (lines.length < 4 || lines[0] !== BEGIN || lines[1] !== '' || lines[lines.length - 1] !== END) return null;
  let end = lines.length - 1;
  if (CHECKSUM_LINE.test(lines[end - 1]!)) end--;
  const body = lines.slice(2, end);
  if (body.length === 0 || !body.every((line) => BASE64_LINE.test(line))) return null;
  const base64 = body.join('');
  if (base64.length % 4 !== 0 || /=[^=]/.test(base64)) return null;
  return Buffer.from(base64, 'base64');
}
