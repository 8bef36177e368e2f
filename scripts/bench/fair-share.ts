// Bench scenario: a second client's analyze latency while one client floods slow files, against its latency on an idle server, in one run.
import os from "node:os";
import { REAL_WORLD, stdlibSource } from "../../test/helpers/python-sources.ts";
import { uploadFrom } from "../../test/helpers/raw-client.ts";
import { startServer } from "../../test/helpers/server-process.ts";
import { median, ms, ratio } from "./measure.ts";

export interface ScenarioResult {
  /** BENCHMARKS.md lines of this scenario (its figures and its target). */
  lines: string[];
  met: boolean;
}

// two clients without a proxy: every address in 127.0.0.0/8 reaches the server on 127.0.0.1
const FLOODER = "127.0.0.1";
const USER = "127.0.0.2";
const FLOOD_CONCURRENCY = 18; // the case: 18 uploads at once, again as soon as each is answered

export async function fairShareScenario(requestedRounds: number, log: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<ScenarioResult> {
  // each round is a fraction of a second: enough of them for a stable median even in a quick run
  const rounds = Math.max(requestedRounds, 9);
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    log(line);
  };
  const server = await startServer({ env: { ANALYZER_WORKERS: String(os.availableParallelism()) } });
  let nonce = 0;
  const variant = (code: string) => `${code}\n# fair-share bench ${process.pid}-${nonce++}\n`;
  const medium = stdlibSource(REAL_WORLD.medium);
  const slow = stdlibSource(REAL_WORLD.large);
  const userUpload = async (): Promise<number> => {
    const start = performance.now();
    const answer = await uploadFrom(server.url, "user.py", variant(medium), { from: USER });
    if (answer.status !== 200) throw new Error(`the user's analyze answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return performance.now() - start;
  };
  try {
    await userUpload(); // warm-up
    const idle: number[] = [];
    for (let round = 0; round < rounds; round++) idle.push(await userUpload());

    let flooding = true;
    const floodAnswers: Record<string, number> = {};
    const flood = Array.from({ length: FLOOD_CONCURRENCY }, async () => {
      while (flooding) {
        const answer = await uploadFrom(server.url, "slow.py", variant(slow), { from: FLOODER });
        floodAnswers[answer.status] = (floodAnswers[answer.status] ?? 0) + 1;
        if (answer.status === 429) await new Promise((resolve) => setTimeout(resolve, 50)); // a client that retries at once
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the flood has taken its share of the lanes
    const busy: number[] = [];
    for (let round = 0; round < rounds; round++) busy.push(await userUpload());
    flooding = false;
    await Promise.all(flood);

    const idleMedian = median(idle);
    const busyMedian = median(busy);
    const answered = Object.entries(floodAnswers).map(([status, count]) => `${count}× ${status}`).join(", ");
    const met = busyMedian <= 2 * idleMedian;
    say(
      "Two clients on one server (peers 127.0.0.1 and 127.0.0.2, default shares: a client holds at most all lanes but one and a quarter of the queue). " +
        "The second client uploads fresh variants of the medium file one after another, first on the idle server, then while the first client keeps " +
        `${FLOOD_CONCURRENCY} uploads of the large file in flight, retrying 50 ms after each 429.`,
    );
    say("");
    say(
      `second client's analyze latency (medium file, ${rounds} rounds) while one client floods slow files (large file, ${FLOOD_CONCURRENCY} at once, ` +
        `${os.availableParallelism()} lanes): idle ${ms(idleMedian)}, during the flood ${ms(busyMedian)} (max ${ms(Math.max(...busy))}) = ${ratio(busyMedian / idleMedian)}; the flooder got ${answered}`,
    );
    say("");
    say("| target (issue 6) | this run | met |");
    say("|---|---|---|");
    say(`| second client's analyze during a flood ≤ 2 × idle | ${ratio(busyMedian / idleMedian)} | ${met ? "yes" : "**no**"} |`);
    return { lines, met };
  } finally {
    await server.stop();
  }
}
