// The analyzers' public data shapes: the tools' own JSON output, the pool's options and its status.

export type ToolName = "pylint" | "bandit" | "radon";
export const TOOL_NAMES: readonly ToolName[] = ["pylint", "bandit", "radon"];

// Type aliases, not interfaces: they are assignable to Record<string, unknown> (JSON-like maps) where callers need that.

/** One message as `pylint --output-format=json FILE` prints it. */
export type PylintMessage = {
  type: string; // convention | refactor | warning | error | fatal | info
  module: string;
  obj: string;
  line: number;
  column: number;
  endLine: number | null;
  endColumn: number | null;
  path: string;
  symbol: string;
  message: string;
  "message-id": string;
};

/** One entry of the `results` array of `bandit -f json FILE` (fields vary a little with bandit's version). */
export type BanditResult = {
  code: string;
  filename: string;
  issue_confidence: string; // HIGH | MEDIUM | LOW | UNDEFINED
  issue_severity: string;
  issue_text: string;
  line_number: number;
  line_range: number[];
  more_info: string;
  test_id: string;
  test_name: string;
  issue_cwe?: { id: number; link: string };
  col_offset?: number;
  end_col_offset?: number;
};

/** One block of the list `radon cc -j FILE` prints for the file. */
export type RadonEntry = {
  type: string; // function | method | class
  name: string;
  rank: string;
  complexity: number;
  lineno: number;
  endline: number;
  col_offset: number;
  classname?: string;
  closures?: RadonEntry[];
  methods?: RadonEntry[];
};

export interface AnalyzeInput {
  code: string;
  /** The file's bytes as uploaded, written for the tools as they are; default: `code` in UTF-8. */
  source?: Uint8Array;
  /** The client's file name (metadata only, already validated to end in .py). */
  filename: string;
  /** Who asked (e.g. the client's address): the lanes are shared fairly between clients. Default: one shared client. */
  client?: string;
}

export interface ToolOutputs {
  pylint: PylintMessage[];
  bandit: BanditResult[];
  radon: RadonEntry[] | { error: string };
}

export interface ToolStatus {
  ok: boolean;
  /** Set while a retired process's replacement keeps failing: it is retried with backoff, `detail` says how it goes. */
  state?: "restarting";
  detail?: string;
  version?: string;
  error?: string;
}

export interface AnalyzerStatus {
  ok: boolean;
  python: string | null;
  tools: Record<ToolName, ToolStatus>;
  running: number;
  waiting: number;
  queueLimit: number;
  workers: number;
}

export interface AnalyzerLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface AnalyzerPoolOptions {
  /** Interpreter with pylint, bandit and radon; default: the first of /usr/bin/python3, python3 that has them. */
  python?: string;
  /** Lanes: each is one warm pylint, one bandit and one radon process, analysing one file at a time. */
  workers: number;
  /** Jobs allowed to wait for a lane; beyond that analyze() rejects with QueueFullError. */
  queueLimit: number;
  /** Per tool and file, in processor time: a tool that spends it is killed and replaced, the job fails (422). */
  timeoutMs: number;
  /**
   * Per tool and file, in wall-clock time (at least timeoutMs, its default): a tool that reaches it before spending
   * timeoutMs in CPU had the machine busy elsewhere; it is stopped without blaming the file (503), unless it spent
   * most of timeoutMs. Above timeoutMs, a file gets more time when the machine is busy.
   */
  wallLimitMs?: number;
  /**
   * A job that waited longer than this for a lane is refused with QueueFullError when its turn comes, so that
   * wait plus analysis stays inside a load balancer's idle timeout. Default: no limit.
   */
  maxWaitMs?: number;
  /** A worker whose resident memory passes this after a job is replaced by a fresh one (default 512). */
  recycleRssMb?: number;
  /**
   * Each process's hard memory ceiling in MiB (its address space, RLIMIT_AS): a file that needs more fails with
   * AnalyzerMemoryError (422) instead of taking the machine's memory. Default: none.
   */
  memoryMb?: number;
  /** First and longest delay between attempts to replace a retired process (default 1 s doubling to 30 s). */
  restartDelayMs?: { min: number; max: number };
  /**
   * How many lanes one client's jobs may hold at once (default: all but one, at least one), so that a client
   * whose files are slow leaves a lane for the others; waiting jobs are started fewest-running-client first.
   */
  clientLanes?: number;
  logger?: AnalyzerLogger;
}

export interface AnalyzerPool {
  analyze(input: AnalyzeInput): Promise<ToolOutputs>;
  /** Cheap and synchronous: no process is spawned. */
  status(): AnalyzerStatus;
  /** Rejects waiting jobs, lets running ones finish (each within its timeout), then stops every process. */
  close(): Promise<void>;
}
