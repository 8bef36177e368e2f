// Planner tests: each step's plan from observed values alone (pure, no machine), the failure cases included.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeAgentPlan } from "../../compose/actions.ts";
import { resolveConfig, type Config } from "../../bootstrap/config.ts";
import { StepError } from "../../bootstrap/errors.ts";
import { fstabLine, fstabWithLine } from "../../bootstrap/adapters/fstab.ts";
import { identify, IdentitySchema, type IdentifySeen } from "../../bootstrap/steps/identify.ts";
import { planLayout, type LayoutSeen } from "../../bootstrap/steps/layout.ts";
import { planMigrate, type MigrateSeen } from "../../bootstrap/steps/migrate.ts";
import { MOUNT_RETRY, planMount, type MountSeen } from "../../bootstrap/steps/mount.ts";

const FS = "fs-0123456789abcdef0";
const aws: Config = resolveConfig(false, { flags: {}, file: { fileSystemId: FS, stateDir: "/var/lib/codedetect", sharedDir: "/mnt/efs" } }).config;
const local: Config = resolveConfig(true, { file: { stateDir: "/s", sharedDir: "/shared", migrateFrom: "/old" } }).config;
const identity = { instanceId: "i-0abc1234def567890", zone: "eu-west-1b", region: "eu-west-1" };

function stepError(fn: () => unknown, pattern: RegExp): StepError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof StepError, `expected a StepError, got ${String(thrown)}`);
  assert.match(thrown.message, pattern);
  return thrown;
}

describe("identify", () => {
  const seen = (over: Partial<IdentifySeen>): IdentifySeen => ({ recorded: null, imds: { state: "ok", identity }, source: "imds", tags: { state: "ok", tags: {} }, ...over });

  it("records the identity and the codedetect tags once; then nothing to do", () => {
    const first = identify.plan(seen({ tags: { state: "ok", tags: { "codedetect:port": "5001", Name: "web" } } }), aws);
    assert.equal(first.length, 1);
    assert.equal(first[0]!.kind === "write" && first[0]!.path, "/var/lib/codedetect/identity.json");
    const recorded = IdentitySchema.parse(JSON.parse(first[0]!.kind === "write" ? first[0]!.content : "{}"));
    assert.deepEqual(recorded, { ...identity, source: "imds", tags: { "codedetect:port": "5001" } });
    assert.equal(recorded.source, "imds");
    assert.deepEqual(identify.plan(seen({ recorded, tags: { state: "ok", tags: { "codedetect:port": "5001", Name: "web" } } }), aws), []);
  });

  it("IMDS that does not answer (timeouts): fails naming the endpoint and what to check", () => {
    const error = stepError(() => identify.plan(seen({ imds: { state: "unreachable", detail: "PUT http://169.254.169.254/latest/api/token: no answer within 2000 ms (5 attempts)" } }), aws), /no answer within 2000 ms \(5 attempts\)/);
    assert.equal(error.step, "identify");
    assert.match(error.next, /HttpEndpoint: enabled/);
  });

  it("IMDS 401 even with a fresh token: fails pointing at the token settings", () => {
    const error = stepError(() => identify.plan(seen({ imds: { state: "refused", detail: "GET /latest/meta-data/instance-id answered 401 even with a fresh token" } }), aws), /answered 401/);
    assert.match(error.next, /HttpTokens: required/);
  });

  it("tags unreadable: fails naming the call and the permission", () => {
    stepError(() => identify.plan(seen({ tags: { state: "failed", detail: "UnauthorizedOperation" } }), aws), /ec2:DescribeTags for i-0abc1234def567890: UnauthorizedOperation; next: grant ec2:DescribeTags/);
  });
});

describe("mount", () => {
  const spec = { fileSystemId: FS, region: "eu-west-1", mountPoint: "/mnt/efs" };
  const target = { mountTargetId: "fsmt-1", zone: "eu-west-1b", state: "available", ipAddress: "10.0.1.5" };
  const entry = { root: "/", mountPoint: "/mnt/efs", options: "rw", fsType: "nfs4", source: "127.0.0.1:/" };
  const seen = (over: Partial<Extract<MountSeen, { mode: "aws" }>>): MountSeen => ({ mode: "aws", spec, mountHelper: "/sbin/mount.efs", zone: "eu-west-1b", target, mount: { state: "missing" }, fstab: "UUID=1 / ext4 defaults 0 1\n", ...over });

  it("from nothing: mount point, one fstab line with _netdev, the efs-utils TLS mount with retries and diagnoses, then the mountinfo check", () => {
    const actions = planMount(seen({}), aws);
    assert.deepEqual(actions.map((action) => action.kind), ["mkdir", "write", "run", "wait"]);
    const write = actions[1]!;
    assert.equal(write.kind === "write" && write.content, `UUID=1 / ext4 defaults 0 1\n${FS}:/ /mnt/efs efs _netdev,tls,noresvport 0 0\n`);
    const run = actions[2]!;
    assert.deepEqual(run.kind === "run" && run.argv, ["mount", "-t", "efs", "-o", "tls,noresvport", `${FS}:/`, "/mnt/efs"]);
    assert.deepEqual(run.kind === "run" && run.retry, MOUNT_RETRY);
    assert.ok(run.kind === "run" && run.diagnoses!.length > 0);
    assert.equal(actions[3]!.kind === "wait" && actions[3]!.until, "mounted:/mnt/efs");
  });

  it("without amazon-efs-utils: refused before anything changes, naming the package (a plain NFS mount would be refused by the TLS-only policy)", () => {
    for (const mount of [{ state: "missing" as const }, { state: "plain" as const, detail: "plain" }]) {
      const error = stepError(() => planMount(seen({ mountHelper: null, mount }), aws), /amazon-efs-utils is not installed \(no mount\.efs where mount looks for it\): the file system accepts only TLS mounts/);
      assert.match(error.next, /^dnf install -y amazon-efs-utils/);
    }
    // mounted by hand and fstab already right: nothing to change, nothing refused
    assert.deepEqual(planMount(seen({ mountHelper: null, mount: { state: "mounted", entry }, fstab: `${fstabLine(spec)}\n` }), aws), []);
    stepError(() => planMount(seen({ mountHelper: null, mount: { state: "mounted", entry } }), aws), /amazon-efs-utils is not installed/);
  });

  it("mount target still creating: waits for it (bounded) before mounting", () => {
    const actions = planMount(seen({ target: { ...target, state: "creating" } }), aws);
    assert.deepEqual(actions[0], { kind: "wait", until: `efs-mount-target:${FS}:eu-west-1b`, deadlineMs: 300_000, next: "re-run `npm run bootstrap` later, or check the stack's mount target fsmt-1 in eu-west-1b" });
  });

  it("already mounted, fstab right: nothing to do; fstab missing the line: only the line", () => {
    const line = fstabLine(spec);
    assert.deepEqual(planMount(seen({ mount: { state: "mounted", entry }, fstab: `# x\n${line}\n` }), aws), []);
    assert.deepEqual(planMount(seen({ mount: { state: "mounted", entry } }), aws).map((action) => action.kind), ["write"]);
  });

  it("refuses: no mount target in the zone, a target being deleted, another file system mounted there", () => {
    stepError(() => planMount(seen({ target: null }), aws), /no mount target in eu-west-1b; next: add a mount target in eu-west-1b/);
    stepError(() => planMount(seen({ target: { ...target, state: "deleting" } }), aws), /is deleting/);
    stepError(() => planMount(seen({ mount: { state: "other", entry: { ...entry, source: "/dev/sda1", fsType: "ext4" } } }), aws), /already a mount of \/dev\/sda1 \(ext4\), not fs-/);
  });

  it("local mode: a directory stands in", () => {
    assert.deepEqual(planMount({ mode: "local", exists: false }, local), [{ kind: "mkdir", path: "/shared", mode: 0o755 }]);
    assert.deepEqual(planMount({ mode: "local", exists: true }, local), []);
  });
});

describe("fstab", () => {
  const spec = { fileSystemId: FS, region: "eu-west-1", mountPoint: "/mnt/efs" };
  const line = fstabLine(spec);

  it("one line for the mount point whatever was there: replaced, deduplicated, comments kept; idempotent", () => {
    const messy = `# /mnt/efs old comment\nold:/ /mnt/efs nfs defaults 0 0\nUUID=1 / ext4 defaults 0 1\n${line}\n${line}\n`;
    const fixed = fstabWithLine(messy, line, "/mnt/efs");
    assert.equal(fixed, `# /mnt/efs old comment\nUUID=1 / ext4 defaults 0 1\n${line}\n`);
    assert.equal(fstabWithLine(fixed, line, "/mnt/efs"), fixed);
    assert.equal(fstabWithLine("", line, "/mnt/efs"), `${line}\n`);
    assert.equal(fstabWithLine("UUID=1 / ext4 defaults 0 1", line, "/mnt/efs"), `UUID=1 / ext4 defaults 0 1\n${line}\n`);
  });

  it("a mount point with a space is escaped as fstab wants", () => {
    assert.match(fstabLine({ ...spec, mountPoint: "/mnt/my efs" }), / \/mnt\/my\\040efs efs /);
  });
});

describe("layout", () => {
  const right = (path: string, mode: number): LayoutSeen["dirs"][number] => ({ path, state: "directory", mode, uid: 1000 });
  const all = [right("/mnt/efs/codedetect", 0o750), right("/mnt/efs/codedetect/database", 0o700), right("/mnt/efs/codedetect/uploads", 0o700)];

  it("creates what is missing and corrects modes and owners; nothing when right", () => {
    assert.deepEqual(planLayout({ dirs: all, canChown: true }, aws), []);
    const wrong = [all[0]!, { ...all[1]!, mode: 0o777 }, { ...all[2]!, uid: 0 }];
    assert.deepEqual(planLayout({ dirs: wrong, canChown: true }, aws), [
      { kind: "mkdir", path: "/mnt/efs/codedetect/database", mode: 0o700, owner: 1000 },
      { kind: "mkdir", path: "/mnt/efs/codedetect/uploads", mode: 0o700, owner: 1000 },
    ]);
    assert.equal(planLayout({ dirs: [], canChown: true }, aws).length, 3);
  });

  it("without root (local mode as a user) owners are left alone", () => {
    assert.deepEqual(planLayout({ dirs: [], canChown: false }, aws)[0], { kind: "mkdir", path: "/mnt/efs/codedetect", mode: 0o750 });
  });

  it("refuses a file where a directory belongs", () => {
    stepError(() => planLayout({ dirs: [{ path: "/mnt/efs/codedetect", state: "not-a-directory", mode: 0o644, uid: 0 }], canChown: true }, aws), /exists and is not a directory/);
  });
});

describe("migrate", () => {
  const seen = (over: Partial<MigrateSeen>): MigrateSeen => ({ holder: "i-1", source: { database: true, uploads: true }, marker: null, pending: false, leftovers: [], ...over });

  it("old data and no marker: one migrate action under the shared lock", () => {
    assert.deepEqual(planMigrate(seen({}), local), [
      { kind: "migrate", source: "/old", target: "/shared/codedetect", owner: 1000, holder: "i-1", leaseSeconds: 60, lockWaitSeconds: 900, heartbeat: null },
    ]);
  });

  it("nothing to migrate, or already migrated: nothing to do", () => {
    assert.deepEqual(planMigrate(seen({ source: null }), local), []);
    assert.deepEqual(planMigrate(seen({ source: { database: false, uploads: false } }), local), []);
    assert.deepEqual(planMigrate(seen({ marker: { holder: "i-0", finishedAt: "2026-01-01T00:00:00Z" } }), local), []);
  });

  it("an interrupted migration past its commit is rolled forward even if the source is gone", () => {
    assert.equal(planMigrate(seen({ source: null, pending: true }), local)[0]!.kind, "migrate");
  });

  it("leftovers of a run killed after its marker are removed", () => {
    assert.deepEqual(planMigrate(seen({ marker: { holder: "i-0", finishedAt: "2026-01-01T00:00:00Z" }, leftovers: ["/shared/codedetect/.migration"] }), local), [
      { kind: "remove", path: "/shared/codedetect/.migration", purpose: "left behind by a finished migration" },
    ]);
  });
});
