// Every answer equals a fresh analysis of that content under the name given, and valid Python the tools analyse is analysed.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { orderQualityIssues } from "../../server/analyzers/score.ts";
import { runCommandLines } from "../analyzers/helpers.ts";
import { stdlibSource } from "../helpers/python-sources.ts";
import { startServer, upload, type RunningServer } from "../helpers/server-process.ts";

const SELF_IMPORT = '"""Uses the os module."""\nimport os\n\nprint(os.sep)\n';
/** pylint's crash message names the report file it wrote in its home: the server leaves that sentence (a path) out. */
const withoutCrashReport = (message: string) => message.replace(/ ?There is a pre-filled template that you can use in '[^']*'\./, "");

describe("answers under the name given", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  test("the same content as os.py then norm.py: each name gets its own fresh findings, score and statistics row", async () => {
    const asOs = await upload(server.url, "os.py", SELF_IMPORT);
    const asNorm = await upload(server.url, "norm.py", SELF_IMPORT);
    assert.equal(asOs.status, 200);
    assert.equal(asNorm.status, 200);
    const symbols = (answer: { body: { analysis: { quality_issues: Array<{ symbol: string }> } } }) => answer.body.analysis.quality_issues.map((m) => m.symbol);
    assert.ok(symbols(asOs).includes("import-self"), "sanity: pylint reports os.py importing itself");
    assert.ok(!symbols(asNorm).includes("import-self"), "norm.py does not import itself");
    const [cliOs, cliNorm] = await Promise.all([runCommandLines(SELF_IMPORT, "os.py"), runCommandLines(SELF_IMPORT, "norm.py")]);
    assert.deepEqual(asOs.body.analysis.quality_issues, cliOs.pylint);
    assert.deepEqual(asNorm.body.analysis.quality_issues, cliNorm.pylint);
    assert.equal(asNorm.body.cached, false, "analysed afresh, not relabelled");
    assert.ok(asOs.body.score < asNorm.body.score, "import-self costs os.py its warning");

    // the same name again is answered from the database, identical but for time and flag
    const osAgain = await upload(server.url, "os.py", SELF_IMPORT);
    const normAgain = await upload(server.url, "norm.py", SELF_IMPORT);
    assert.deepEqual(osAgain.body.analysis, asOs.body.analysis);
    assert.deepEqual(normAgain.body.analysis, asNorm.body.analysis);
    assert.equal(osAgain.body.score, asOs.body.score);

    const stats = (await (await fetch(`${server.url}/api/stats`)).json()) as { trend_data: Array<{ score: number }> };
    assert.deepEqual(
      stats.trend_data.slice(-4).map((row) => row.score),
      [asOs.body.score, asNorm.body.score, osAgain.body.score, normAgain.body.score],
      "each upload's statistics row has the score of the answer it got",
    );
  });

  test("a few hundred terms in one expression (valid Python) get 200 with the findings pylint's command line gives, and no server path", async () => {
    const code = `"""Long expression."""\nX = ${Array(400).fill("1").join(" + ")}\n`;
    const answer = await upload(server.url, "long_expression.py", code);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const cli = await runCommandLines(code, "long_expression.py");
    assert.ok(cli.pylint.some((m) => m.type === "fatal"), "sanity: pylint's own command line reports its crash on this file");
    // every message, most severe first then by line (the fatal crash report first)
    assert.deepEqual(answer.body.analysis.quality_issues, orderQualityIssues(cli.pylint.map((m) => ({ ...m, message: withoutCrashReport(m.message) }))));
    assert.equal(answer.body.parse_error, null, "a pylint crash on valid Python is not a parse failure");
    assert.equal(answer.body.summary.total_issues, cli.pylint.length);
    assert.doesNotMatch(JSON.stringify(answer.body), /\/(tmp|root|home|usr)\//, "no path on the server in the answer");
  });

  test("an error answer speaks only of its own request: no other client's file name, no traceback, no server path", async () => {
    // another client's upload makes pylint print a traceback naming its file on the worker's stderr
    const other = await upload(server.url, "other_clients_secret.py", `X = ${Array(400).fill("1").join(" + ")}\n`);
    assert.equal(other.status, 200);
    const answer = upload(server.url, "mine.py", stdlibSource("tarfile")); // seconds of pylint
    let busy: number | undefined;
    for (let attempt = 0; busy === undefined && attempt < 1000; attempt++) {
      busy = pylintWorkersOf(server.child.pid!).find((pid) => processState(pid) === "R"); // the one linting it now
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(busy, "a pylint worker is linting the upload");
    process.kill(busy, "SIGKILL"); // stands in for a crash inside pylint during this request
    const failed = await answer;
    assert.equal(failed.status, 500);
    assert.deepEqual(failed.body, { error: "Analysis failed", details: "pylint crashed on this file" });
  });
});

/** A process's state letter (R running, S sleeping...). */
function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!;
  } catch {
    return "gone";
  }
}

/** The pids of the server's warm pylint workers. */
function pylintWorkersOf(serverPid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === serverPid && readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("--tool\0pylint")) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
