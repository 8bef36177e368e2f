// Decodes an uploaded Python file as Python itself does (PEP 263): a UTF-8 BOM, or a coding declaration on line 1 or 2, else UTF-8.

export class SourceEncodingError extends Error {
  override name = "SourceEncodingError";
}

/** How a codec is decoded here: a WHATWG label for TextDecoder, or one of the two Python codecs it has no exact twin for. */
type Decoder = { label: string } | { special: "latin-1" | "ascii" };

const label = (name: string): Decoder => ({ label: name });

/**
 * Python's codec names and aliases (lowercase, without "-", "_", "." or spaces, as Python's lookup ignores them)
 * mapped to a decoder. ISO-8859-1 is not WHATWG's "latin1" (which means windows-1252), so it is decoded exactly.
 */
const CODECS: Record<string, Decoder> = {
  utf8: label("utf-8"), u8: label("utf-8"), utf: label("utf-8"), cp65001: label("utf-8"), utf8sig: label("utf-8"),
  latin1: { special: "latin-1" }, iso88591: { special: "latin-1" }, latin: { special: "latin-1" }, l1: { special: "latin-1" },
  cp819: { special: "latin-1" }, "8859": { special: "latin-1" }, isolatin1: { special: "latin-1" },
  ascii: { special: "ascii" }, usascii: { special: "ascii" }, "646": { special: "ascii" },
  latin2: label("iso-8859-2"), l2: label("iso-8859-2"), latin3: label("iso-8859-3"), l3: label("iso-8859-3"),
  latin4: label("iso-8859-4"), l4: label("iso-8859-4"), cyrillic: label("iso-8859-5"), arabic: label("iso-8859-6"),
  greek: label("iso-8859-7"), greek8: label("iso-8859-7"), hebrew: label("iso-8859-8"), latin5: label("iso-8859-9"),
  l5: label("iso-8859-9"), latin6: label("iso-8859-10"), l6: label("iso-8859-10"), thai: label("windows-874"),
  latin7: label("iso-8859-13"), l7: label("iso-8859-13"), latin8: label("iso-8859-14"), l8: label("iso-8859-14"),
  latin9: label("iso-8859-15"), l9: label("iso-8859-15"), latin10: label("iso-8859-16"), l10: label("iso-8859-16"),
  cp874: label("windows-874"), cp866: label("ibm866"), "866": label("ibm866"), ibm866: label("ibm866"),
  koi8r: label("koi8-r"), koi8u: label("koi8-u"), macroman: label("macintosh"), macintosh: label("macintosh"),
  maccyrillic: label("x-mac-cyrillic"),
  cp932: label("shift_jis"), ms932: label("shift_jis"), mskanji: label("shift_jis"), shiftjis: label("shift_jis"),
  sjis: label("shift_jis"), eucjp: label("euc-jp"), ujis: label("euc-jp"), iso2022jp: label("iso-2022-jp"),
  euckr: label("euc-kr"), cp949: label("euc-kr"), big5: label("big5"), big5tw: label("big5"), csbig5: label("big5"),
  gbk: label("gbk"), cp936: label("gbk"), ms936: label("gbk"), gb2312: label("gbk"), gb18030: label("gb18030"),
};
for (let n = 2; n <= 16; n++) {
  // iso-8859-9 and -11 are WHATWG's windows-1254 and windows-874 (the same letters)
  if (n !== 12) CODECS[`iso8859${n}`] = label(n === 9 ? "windows-1254" : n === 11 ? "windows-874" : `iso-8859-${n}`);
}
for (let n = 1250; n <= 1258; n++) {
  CODECS[`cp${n}`] = label(`windows-${n}`);
  CODECS[`windows${n}`] = label(`windows-${n}`);
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** PEP 263's declaration, as Python's tokenizer matches it. */
const COOKIE = /^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)/;
/** A line that lets the declaration be on line 2: blank or a comment only. */
const BLANK = /^[ \t\f]*(?:[#\r\n]|$)/;

/** Python's tokenizer reads "utf-8-…" as UTF-8 and "latin-1-…" (emacs' "latin-1-unix") as ISO-8859-1. */
function normalName(name: string): string {
  const head = name.slice(0, 12).toLowerCase().replaceAll("_", "-");
  if (head === "utf-8" || head.startsWith("utf-8-")) return "utf-8";
  for (const latin of ["latin-1", "iso-8859-1", "iso-latin-1"]) if (head === latin || head.startsWith(`${latin}-`)) return "iso-8859-1";
  return name;
}

/** The declared codec and its line (1 or 2), or null when the file declares none. */
function declaration(bytes: Buffer): { name: string; line: number } | null {
  const lines = bytes.toString("latin1").split("\n", 2);
  const first = COOKIE.exec(lines[0] ?? "");
  if (first) return { name: first[1]!, line: 1 };
  if (!BLANK.test(lines[0] ?? "") || lines.length < 2) return null;
  const second = COOKIE.exec(lines[1] ?? "");
  return second ? { name: second[1]!, line: 2 } : null;
}

function decodeWith(decoder: Decoder, bytes: Buffer): string | null {
  if ("special" in decoder) {
    if (decoder.special === "ascii" && bytes.some((byte) => byte > 0x7f)) return null;
    return bytes.toString("latin1");
  }
  try {
    // ignoreBOM: a BOM is stripped above, once, as Python does; another one is text
    return new TextDecoder(decoder.label, { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

/**
 * The file's text as Python reads it, or SourceEncodingError with a precise reason: an unknown or unsupported
 * declared codec, a BOM with a non-UTF-8 declaration, or bytes that are not text in the file's encoding.
 * The BOM is not part of the text (as with Python).
 */
export function decodePythonSource(bytes: Buffer): string {
  const hasBom = bytes.subarray(0, 3).equals(BOM);
  const body = hasBom ? bytes.subarray(3) : bytes;
  const declared = declaration(body);
  if (!declared) {
    const text = decodeWith(label("utf-8"), body);
    if (text === null) throw new SourceEncodingError("File is not UTF-8 text (and declares no other encoding on line 1 or 2, PEP 263)");
    return text;
  }
  const name = normalName(declared.name);
  const decoder = CODECS[name.toLowerCase().replace(/[-_. ]/g, "")];
  const where = `declared on line ${declared.line}`;
  if (!decoder) throw new SourceEncodingError(`Unknown or unsupported source encoding "${declared.name}" ${where}; save the file as UTF-8`);
  if (hasBom && !("label" in decoder && decoder.label === "utf-8")) {
    throw new SourceEncodingError(`Encoding problem: the file starts with a UTF-8 byte order mark but declares "${declared.name}" ${where}`);
  }
  const text = decodeWith(decoder, body);
  if (text === null) throw new SourceEncodingError(`File is not valid ${declared.name} text, the encoding ${where}`);
  return text;
}
