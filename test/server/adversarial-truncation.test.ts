// Multipart bodies cut off at every byte, with honest, lying and chunked framing, against the real server over raw
// sockets: the process survives every one, answers JSON when it answers, and keeps only acknowledged uploads on disk.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { filesUnder, startServer, type RunningServer } from "../helpers/server-process.ts";
import { chunked, exchange, json, multipartBody, postHead, type FormPart, type RawAnswer } from "./raw-http.ts";

let server: RunningServer;
/** Hashes of uploads the server answered 200 for: the only files allowed under DATA_DIR/uploads. */
const acknowledged = new Set<string>();

before(async () => {
  // the health monitor's storage probe writes a transient file under uploads/.tmp: once at start, then not during the run
  server = await startServer({ env: { HEALTH_INTERVAL_SECONDS: "300" } });
});
after(async () => {
  assert.equal(await server.stop(), 0, "the server must still be running and stop cleanly");
});

type Framing = "honest length" | "lying length, then FIN" | "chunked without its last chunk, then FIN" | "lying length, then a reset";

/** Sends the first `cut` bytes of the body (or of its chunked framing) as the brief's three kinds of cut-off request. */
function sendCut(body: Buffer, boundary: string, cut: number, framing: Framing): Promise<RawAnswer> {
  const type = `multipart/form-data; boundary=${boundary}`;
  if (framing === "honest length") return exchange(server.port, [postHead("/api/analyze", type, cut), body.subarray(0, cut)], { after: "open" });
  if (framing === "lying length, then FIN") return exchange(server.port, [postHead("/api/analyze", type, body.length), body.subarray(0, cut)], { after: "end" });
  if (framing === "lying length, then a reset") return exchange(server.port, [postHead("/api/analyze", type, body.length), body.subarray(0, cut)], { after: "reset" });
  return exchange(server.port, [postHead("/api/analyze", type, null), chunked(body, 97).subarray(0, cut)], { after: "end" });
}

/** The server process lives, health answers, and nothing is on disk but acknowledged uploads. */
async function assertStillServing(what: string): Promise<void> {
  assert.equal(server.child.exitCode, null, `the server process ended after ${what}:\n${server.lines.slice(-20).join("\n")}`);
  assert.equal(server.child.signalCode, null, `the server process was killed after ${what}`);
  const health = await fetch(`${server.url}/api/health`);
  assert.equal(health.status, 200, `health after ${what}`);
  await health.arrayBuffer();
  const allowed = new Set([...acknowledged].map((hash) => `${hash}.py`));
  const stray = filesUnder(path.join(server.dataDir, "uploads")).filter((file) => !allowed.has(file));
  assert.deepEqual(stray, [], `files on disk that no 200 answer acknowledged, after ${what}`);
}

/** Every answer is JSON; a refusal carries {"error": "..."} with a message. */
function assertJsonAnswer(answer: RawAnswer, what: string): void {
  assert.notEqual(answer.status, null, `no answer at all for ${what}`);
  assert.match(answer.headers["content-type"] ?? "", /^application\/json/, `${what}: answered ${answer.status} without JSON`);
  const body = json(answer);
  if (answer.status !== 200) assert.ok(typeof body.error === "string" && body.error.length > 0, `${what}: no error message in ${answer.body}`);
  else acknowledged.add(body.file_hash);
}

const CODE = '"""Cut-off uploads."""\n\nVALUE = 42\n';
const BOUNDARY = "----cdTruncation7MA4YWxkTrZu0gW";

/** Where the form is complete: at or after the end of the closing boundary, busboy has the whole form. */
function formCompleteAt(body: Buffer, boundary: string): number {
  return body.indexOf(`--${boundary}--`) + `--${boundary}--`.length;
}

const layouts: Array<{ name: string; parts: FormPart[]; accepted: boolean }> = [
  { name: "the file alone", parts: [{ name: "file", filename: "cut.py", content: CODE }], accepted: true },
  { name: "the file before a field", parts: [{ name: "file", filename: "cut.py", content: CODE }, { name: "note", content: "after" }], accepted: true },
  { name: "the file after a field", parts: [{ name: "note", content: "before" }, { name: "file", filename: "cut.py", content: CODE }], accepted: true },
  {
    name: "the file between two fields",
    parts: [{ name: "a", content: "1" }, { name: "file", filename: "cut.py", content: CODE }, { name: "b", content: "2" }],
    accepted: true,
  },
  { name: "the file in a field not named file", parts: [{ name: "a", content: "1" }, { name: "upload", filename: "cut.py", content: CODE }], accepted: false },
];

describe("a multipart body cut off at every byte offset", () => {
  for (const layout of layouts) {
    const body = multipartBody(BOUNDARY, layout.parts);
    const completeAt = formCompleteAt(body, BOUNDARY);
    test(`${layout.name}, ${body.length} bytes, honest Content-Length of the cut: 400 JSON until the form is complete`, async () => {
      for (let cut = 0; cut <= body.length; cut++) {
        const what = `${layout.name} cut at ${cut} of ${body.length} (honest length)`;
        const answer = await sendCut(body, BOUNDARY, cut, "honest length");
        assertJsonAnswer(answer, what);
        const expected = layout.accepted && cut >= completeAt ? 200 : 400;
        assert.equal(answer.status, expected, `${what}: ${answer.body}`);
        if (!layout.accepted) assert.match(json(answer).error, /field "upload"|Malformed multipart/, what);
        await assertStillServing(what);
      }
    });
    for (const framing of ["lying length, then FIN", "chunked without its last chunk, then FIN"] as const) {
      const framedLength = framing === "lying length, then FIN" ? body.length : chunked(body, 97).length;
      test(`${layout.name}, ${framing}: 400 JSON at every offset, the process lives`, async () => {
        for (let cut = 0; cut < framedLength; cut++) {
          const what = `${layout.name} cut at ${cut} of ${framedLength} (${framing})`;
          const answer = await sendCut(body, BOUNDARY, cut, framing);
          assertJsonAnswer(answer, what);
          assert.equal(answer.status, 400, `${what}: ${answer.body}`);
          await assertStillServing(what);
        }
      });
    }
    test(`${layout.name}, lying length, then the client resets the connection: the process lives, nothing stays on disk`, async () => {
      for (let cut = 0; cut < body.length; cut++) {
        const what = `${layout.name} cut at ${cut} of ${body.length}, then a reset`;
        const answer = await sendCut(body, BOUNDARY, cut, "lying length, then a reset");
        assert.equal(answer.status, null, `${what}: an answer on a reset connection?`);
        await assertStillServing(what);
      }
    });
  }

  test("the uncut bodies are accepted in every framing (the control)", async () => {
    for (const layout of layouts.filter((l) => l.accepted)) {
      const body = multipartBody(BOUNDARY, layout.parts);
      const type = `multipart/form-data; boundary=${BOUNDARY}`;
      for (const request of [[postHead("/api/analyze", type, body.length), body], [postHead("/api/analyze", type, null), chunked(body, 97)]]) {
        const answer = await exchange(server.port, request, { after: "open" });
        assertJsonAnswer(answer, layout.name);
        assert.equal(answer.status, 200, `${layout.name}: ${answer.body}`);
        assert.equal(json(answer).filename, "cut.py");
      }
    }
  });
});

describe("property: any form, any file position, any cut, any framing", () => {
  const nameChar = fc.constantFrom(..."abcxyzABZ019_-éüßö日本ñ".split(""));
  const fileName = fc.array(nameChar, { minLength: 1, maxLength: 24 }).map((chars) => `${chars.join("")}.py`);
  const field = fc.record({
    name: fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/).filter((name) => name !== "file"),
    content: fc.string({ maxLength: 40 }).map((text) => text.replace(/\r|\n|-/g, " ")),
  });
  const form = fc.record({
    boundary: fc.stringMatching(/^[A-Za-z0-9]{12,40}$/).map((tail) => `----cd${tail}`),
    fields: fc.array(field, { maxLength: 3 }),
    position: fc.nat(),
    fileField: fc.oneof({ weight: 4, arbitrary: fc.constant("file") }, { weight: 1, arbitrary: fc.constantFrom("upload", "files", "File") }),
    filename: fileName,
    code: fc.constantFrom(CODE, "x = 1\n", "", "def f():\n    return 'é'\n"),
    framing: fc.constantFrom<Framing>("honest length", "lying length, then FIN", "chunked without its last chunk, then FIN"),
    cutFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  });

  test("the server answers JSON (200 only for a complete form with the file in field file), lives and keeps no stray file", async () => {
    await fc.assert(
      fc.asyncProperty(form, async (f) => {
        const parts: FormPart[] = f.fields.map((x) => ({ name: x.name, content: x.content }));
        parts.splice(f.position % (parts.length + 1), 0, { name: f.fileField, filename: f.filename, content: f.code });
        const body = multipartBody(f.boundary, parts);
        const framedLength = f.framing === "chunked without its last chunk, then FIN" ? chunked(body, 97).length : body.length;
        // honest framing may send the whole body; the other two always stop short of it
        const cut = f.framing === "honest length" ? Math.round(f.cutFraction * body.length) : Math.floor(f.cutFraction * (framedLength - 1));
        const what = `${JSON.stringify(f)} cut at ${cut}`;
        const answer = await sendCut(body, f.boundary, cut, f.framing);
        assertJsonAnswer(answer, what);
        const complete = f.framing === "honest length" && cut >= formCompleteAt(body, f.boundary);
        assert.equal(answer.status, complete && f.fileField === "file" ? 200 : 400, `${what}: ${answer.body}`);
        if (answer.status === 200) assert.equal(json(answer).filename, f.filename, "the UTF-8 file name comes back as sent");
        await assertStillServing(what);
      }),
      { numRuns: 300 },
    );
  });
});

describe("property: a valid body with random bytes changed, inserted or removed", () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.constantFrom(...["\r\n", "--", `--${BOUNDARY}`, `\r\n--${BOUNDARY}\r\n`, '"', ";", "filename*=", "\u0000"].map((text) => Buffer.from(text))) }),
    fc.record({ kind: fc.constant("remove" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  );
  const apply = (body: Buffer, change: typeof mutation extends fc.Arbitrary<infer T> ? T : never): Buffer => {
    const at = change.at % (body.length + 1);
    if (change.kind === "flip") return at < body.length ? Buffer.concat([body.subarray(0, at), Buffer.from([change.byte]), body.subarray(at + 1)]) : body;
    if (change.kind === "insert") return Buffer.concat([body.subarray(0, at), Buffer.from(change.bytes), body.subarray(at)]);
    return Buffer.concat([body.subarray(0, at), body.subarray(at + change.length)]);
  };

  test("every answer is JSON: 200 with the file, or 400/413 with an error; the process lives; no stray file", async () => {
    const base = multipartBody(BOUNDARY, layouts[3]!.parts);
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (changes) => {
        const body = changes.reduce(apply, base);
        const what = `mutations ${JSON.stringify(changes)}`;
        const type = `multipart/form-data; boundary=${BOUNDARY}`;
        const answer = await exchange(server.port, [postHead("/api/analyze", type, body.length), body], { after: "open", guardMs: 60_000 });
        assertJsonAnswer(answer, what);
        assert.ok([200, 400, 413].includes(answer.status!), `${what}: ${answer.status} ${answer.body}`);
        await assertStillServing(what);
      }),
      { numRuns: 150 },
    );
  });
});
