# CodeDetect analyzer worker: one warm pylint, bandit or radon process answering line-delimited JSON jobs.
#
# Started by server/analyzers/tool-worker.ts as
#   python3 -I -B -X utf8 worker.py --tool pylint|bandit|radon [--memory-mb N]   (or --probe)
# with its cwd set to an empty private directory. With --memory-mb, the process's address space is capped at N MiB
# (RLIMIT_AS) before the tool is even imported: an allocation past it fails with MemoryError instead of taking the
# machine's memory. Protocol (one JSON object per line):
#   worker -> server, once:  {"ready": true, "tool", "version", "python"} or {"ready": false, "reason", "detail"}
#   server -> worker:        {"id", "source" (the file's bytes, base64), "filename"}
#   worker -> server:        {"id", "ok": true, "result", "started", "finished", "cpuMs", "rssMb"} or {"id", "ok": false, "error"}
#                            or {"id", "ok": false, "memoryLimit": true, "peakMb", "heldMb"} when the job ran into the memory ceiling
#                            (heldMb: address space earlier jobs still held when it started, beyond the warm process's)
# "result" is exactly what the tool's command line prints for a file named `filename`:
#   pylint --output-format=json FILE (the list), bandit -f json FILE ("results"), radon cc -j FILE (FILE's value).
# Works with Debian bookworm's tools (Python 3.11, pylint 2.16, bandit 1.6, radon 5.1) and trixie's
# (Python 3.13, pylint 3.3, bandit 1.7, radon 6.0).

import base64
import importlib
import io
import json
import linecache
import os
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
import traceback

TOOLS = ("pylint", "bandit", "radon")
# Run once at start: loads the tool's checkers and puts a few common modules in astroid's cache (each parsed
# module costs about 0.1 s once per process; more would only slow down start-up and replacements).
WARMUP_CODE = '"""Warm-up."""\nimport os\nimport re\nimport sys\nimport typing\n\nprint(os.sep, re.escape, sys.argv, typing.Any)\n'
WARMUP_NAME = "codedetect_warmup.py"


class Capture(io.StringIO):
    """A stdout stand-in that tools may print to and even close (bandit closes its output file)."""

    name = "<stdout>"

    def close(self):
        pass


def now_ms():
    return time.time() * 1000.0


def tool_version(tool, module):
    try:
        from importlib.metadata import version

        return version(tool)
    except Exception:
        return str(getattr(module, "__version__", "unknown"))


def rss_mb():
    """Resident memory now (the server replaces a worker that has grown too big)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0


def status_mb(field):
    """A figure of /proc/self/status in MB (VmPeak, VmSize), 0 when it cannot be read."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return 0


def peak_address_space_mb():
    """The largest address space the process has had (VmPeak): the ceiling is on address space, not on RSS."""
    return status_mb("VmPeak")


def address_space_mb():
    """The address space the process has now (VmSize): what an earlier job left reserved counts against the ceiling."""
    return status_mb("VmSize")


# A job whose address space came this close to the ceiling ran into it: the tools catch MemoryError themselves
# (pylint turns it into an "astroid-error" message, bandit into an entry of its "errors"), so the peak tells it.
MEMORY_LIMIT_MARGIN = 0.95


def cap_memory(limit_mb):
    """RLIMIT_AS, not RSS: Linux has no enforced RSS limit for a process. Address space counts what is reserved
    (thread stacks, malloc arenas, mapped libraries) as well as what is touched, so the cap is set on a process
    whose reservations are kept small (one malloc arena: MALLOC_ARENA_MAX from the server) and sized above its
    warm footprint. The kernel's OOM killer is told to pick this process before the server if the container's
    own limit is reached anyway."""
    limit = int(limit_mb) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write("1000")
    except OSError:
        pass


def check_filename(filename):
    if not isinstance(filename, str) or filename in ("", ".", "..") or "/" in filename or "\0" in filename:
        raise ValueError("invalid file name %r: a bare file name is required" % (filename,))
    return filename


# bandit's and radon's findings do not depend on the file's name, so they read the code from a file of
# this fixed name: the client's file name stays metadata and is never part of a path on this server.
ON_DISK_NAME = "upload.py"
# The directory the file is in, as the tools see it (an `__init__.py` is linted as module "upload").
JOB_DIRECTORY = "upload"


class FileTool:
    """Every tool reads a file, as from its command line: each job writes the code into a fresh directory
    inside the private cwd (as ON_DISK_NAME, or as the client's bare name where the findings depend on it),
    runs there, removes it, and reports the client's name in the results."""

    def __init__(self, workdir):
        self.workdir = workdir

    def analyze(self, source, filename):
        """source: the file's bytes as uploaded (written unchanged, so a PEP 263 declaration stays true), or text."""
        # a cleaner of the temporary directory (tmpfiles.d, tmpreaper) may have removed it: make it again
        os.makedirs(self.workdir, exist_ok=True)
        jobdir = tempfile.mkdtemp(prefix="job-", dir=self.workdir)
        try:
            # the file's directory has a fixed name: pylint names an __init__.py's module after it
            filedir = os.path.join(jobdir, JOB_DIRECTORY)
            os.mkdir(filedir)
            with open(os.path.join(filedir, self.on_disk_name(filename)), "wb") as handle:
                handle.write(source if isinstance(source, bytes) else source.encode("utf-8"))
            os.chdir(filedir)
            return self.run_cli(filename)
        finally:
            os.chdir(self.workdir)
            shutil.rmtree(jobdir, ignore_errors=True)
            # bandit reads its code snippets through linecache: never serve one upload's lines for another
            linecache.clearcache()

    def on_disk_name(self, filename):
        return ON_DISK_NAME

    def run_cli(self, filename):
        raise NotImplementedError


class BanditTool(FileTool):
    name = "bandit"

    def __init__(self, workdir):
        super().__init__(workdir)
        from bandit.cli import main as bandit_main

        self.main = bandit_main.main

    def run_cli(self, filename):
        # bandit's own command line, in-process: `bandit -f json -- FILE`
        out = Capture()
        saved_argv, saved_stdout = sys.argv, sys.stdout
        sys.argv, sys.stdout = ["bandit", "-f", "json", "--", ON_DISK_NAME], out
        try:
            self.main()
        except SystemExit as exit_:
            if exit_.code not in (0, 1, None):  # 1 means "issues found"
                raise RuntimeError("bandit exited with status %s" % exit_.code)
        finally:
            sys.argv, sys.stdout = saved_argv, saved_stdout
        results = json.loads(out.getvalue())["results"]
        # bandit 1.7+ shows a file named on its command line as "./NAME" (1.6 as "NAME"): report the client's name
        for result in results:
            result["filename"] = filename
        return results


class RadonTool(FileTool):
    name = "radon"

    def __init__(self, workdir):
        super().__init__(workdir)
        from radon.cli import cc

        self.cc = cc

    def run_cli(self, filename):
        # radon's `cc` command function with its command-line defaults: `radon cc -j FILE`
        out = Capture()
        saved_stdout, sys.stdout = sys.stdout, out
        try:
            self.cc([ON_DISK_NAME], json=True)
        finally:
            sys.stdout = saved_stdout
        # radon leaves out a file in which it found no block: that is an empty list for the file
        return json.loads(out.getvalue() or "{}").get(ON_DISK_NAME, [])


class AstroidHygiene:
    """Keeps a warm astroid free of uploads: after each lint, forget every module that is not part of
    the Python installation, and undo what an upload's attribute assignments added to installed modules
    (`t = threading.Thread(); t.result = 1` records `result` on astroid's Thread class)."""

    def __init__(self, workdir):
        import astroid
        from astroid.builder import AstroidBuilder

        self.manager = astroid.MANAGER
        self.workdir = os.path.realpath(workdir)
        self.install_roots = tuple(
            os.path.join(os.path.realpath(p), "")
            for p in sys.path
            if p and os.path.isabs(p) and os.path.realpath(p) != self.workdir
        )
        self.assignments = []  # AssignAttr nodes of upload modules, as astroid's builder handles them
        original = AstroidBuilder.delayed_assattr
        hygiene = self

        def recording_delayed_assattr(builder, node):
            if not hygiene.is_installed_file(getattr(node.root(), "file", None)):
                hygiene.assignments.append(node)
            return original(builder, node)

        AstroidBuilder.delayed_assattr = recording_delayed_assattr

    def is_installed_file(self, path):
        if path is None:
            return True  # built from a live module (builtins, sys...) or by an astroid brain
        if not isinstance(path, str) or not os.path.isabs(path):
            return False
        real = os.path.realpath(path)
        return real.startswith(self.install_roots) and not real.startswith(os.path.join(self.workdir, ""))

    def forget_uploads(self):
        self.undo_assignments()
        cache = self.manager.astroid_cache
        for name in [n for n, module in cache.items() if not self.is_installed_file(getattr(module, "file", None))]:
            del cache[name]
        # (modname, importing file) -> where the module was found, or the import error: keep what installed
        # modules looked up, forget what uploads did
        lookups = self.manager._mod_file_cache
        for key in [k for k in lookups if not (isinstance(k, tuple) and len(k) == 2 and k[1] and self.is_installed_file(k[1]))]:
            del lookups[key]
        self.clear_node_caches()
        self.clear_builtin_class_caches()

    def undo_assignments(self):
        for node in self.assignments:
            for target in self.assignment_targets(node):
                for attrs_name in ("locals", "instance_attrs"):
                    attrs = getattr(target, attrs_name, None)
                    values = attrs.get(node.attrname) if isinstance(attrs, dict) else None
                    if values and any(v is node for v in values):
                        values[:] = [v for v in values if v is not node]
                        if not values:
                            del attrs[node.attrname]
        self.assignments = []

    def assignment_targets(self, node):
        targets = []
        try:
            for inferred in node.expr.infer():
                targets.append(inferred)
                proxied = getattr(inferred, "_proxied", None)
                if proxied is not None:
                    targets.append(proxied)
        except Exception:
            pass
        from astroid import nodes

        installed = []
        for target in targets:
            root = safe_root(target)
            if isinstance(root, nodes.Module) and self.is_installed_file(root.file):
                installed.append(target)
        return installed

    def clear_builtin_class_caches(self):
        """astroid 2's @cached keeps results in a node's "__cache" attribute; on a constant or a literal that
        lookup falls through to the builtin class it stands for (str, list...), whose cache then collects
        every upload's nodes. Drop the entries that belong to other nodes than the class itself."""
        from astroid import nodes, raw_building

        classes = list(getattr(raw_building, "_CONST_PROXY", {}).values())
        builtins_module = self.manager.astroid_cache.get("builtins")
        if builtins_module is not None:
            classes.extend(n for values in builtins_module.locals.values() for n in values if isinstance(n, nodes.ClassDef))
        for cls in classes:
            cache = vars(cls).get("__cache")
            if cache:
                for key in [k for k in cache if getattr(k, "__self__", cls) is not cls]:
                    del cache[key]

    def clear_node_caches(self):
        """Caches keyed by AST nodes: emptied after each lint so that they neither keep uploads alive
        (memory) nor answer for them. Installed modules stay parsed; what these caches held is cheap to redo."""
        # (astroid's package exports functions that shadow these submodules' names)
        importlib.import_module("astroid.context")._invalidate_cache()
        importlib.import_module("astroid.inference_tip").clear_inference_tip_cache()
        cache_manager = getattr(sys.modules.get("astroid._cache"), "CACHE_MANAGER", None)
        if isinstance(getattr(cache_manager, "dict_caches", None), list):  # astroid 2 lists every node's cache
            del cache_manager.dict_caches[:]
        from astroid.interpreter.objectmodel import ObjectModel
        from astroid.nodes.scoped_nodes import ClassDef

        try:
            from astroid.nodes._base_nodes import LookupMixIn
        except ImportError:  # astroid 2
            from astroid.nodes.node_classes import LookupMixIn
        for cached in (LookupMixIn.lookup, ObjectModel.attributes, ClassDef._metaclass_lookup_attribute):
            if hasattr(cached, "cache_clear"):
                cached.cache_clear()
        # pylint's and isort's (which pylint runs): keyed by nodes or by the objects of one run
        # (pylint 2.16's message store and isort's module placement keep something of every run)
        for cached in lru_caches_in(("pylint", "isort")):
            cached.cache_clear()


def safe_root(node):
    try:
        return node.root()
    except Exception:
        return None


def lru_caches_in(packages):
    """Every functools cache defined in the packages' loaded modules, at module level or on a class."""
    caches = []
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in packages:
            continue
        for value in list(vars(module).values()):
            owners = [value]
            if isinstance(value, type) and value.__module__ == name:
                owners.extend(vars(value).values())
            caches.extend(owner for owner in owners if callable(getattr(owner, "cache_clear", None)))
    return caches


class PylintTool(FileTool):
    """pylint lints the code saved under the client's (bare) file name in a fresh job directory, exactly as
    `pylint --output-format=json --persistent=n NAME` run in that directory: the module is named after the
    client's file name, and pylint's own error paths (which reopen the file) find it."""

    name = "pylint"

    def __init__(self, workdir):
        super().__init__(workdir)
        from pylint.lint import Run

        self.run = Run
        self.hygiene = AstroidHygiene(workdir)

    def on_disk_name(self, filename):
        return filename

    def run_cli(self, filename):
        self.hygiene.forget_uploads()  # in case a previous lint was cut short
        out = Capture()
        saved_stdout, sys.stdout = sys.stdout, out
        # pylint takes a name starting with "-" for an option (and ignores "--"): give it as "./NAME"
        argument = "./" + filename if filename.startswith("-") else filename
        try:
            self.run(["--output-format=json", "--persistent=n", argument], exit=False)
        except SystemExit as exit_:
            raise RuntimeError("pylint exited with status %s" % exit_.code)
        finally:
            sys.stdout = saved_stdout
            self.hygiene.forget_uploads()
            remove_crash_reports()
        messages = json.loads(out.getvalue() or "[]")
        for message in messages:
            if message.get("path") == argument:
                message["path"] = filename
            if isinstance(message.get("message"), str):
                message["message"] = CRASH_TEMPLATE_SENTENCE.sub("", message["message"])
        return messages


# pylint's "Fatal error while checking" message names the crash report it wrote in its home: a path on this
# server, and a file nobody reads here. The answer keeps the message without that sentence.
CRASH_TEMPLATE_SENTENCE = re.compile(r" ?There is a pre-filled template that you can use in '[^']*'\.")


def remove_crash_reports():
    home = os.environ.get("PYLINTHOME")
    if not home or not os.path.isdir(home):
        return
    for name in os.listdir(home):
        if name.startswith("pylint-crash-"):
            try:
                os.remove(os.path.join(home, name))
            except OSError:
                pass


TOOL_CLASSES = {"pylint": PylintTool, "bandit": BanditTool, "radon": RadonTool}


def load_tool(tool, workdir):
    """Import the tool and run it once; returns (tool object, ready message). A failure is told as
    "<tool> <reason> for <interpreter>: <detail>" by the server, which knows the interpreter's configured name."""
    try:
        module = importlib.import_module(tool)
        instance = TOOL_CLASSES[tool](workdir)
    except ModuleNotFoundError as error:
        reason = "is not installed" if error.name == tool else "cannot be imported"
        return None, {"ready": False, "reason": reason, "detail": str(error)}
    except MemoryError:
        return None, {"ready": False, "reason": "does not fit in its memory limit", "detail": "MemoryError while importing"}
    except Exception as error:
        return None, {"ready": False, "reason": "cannot be imported", "detail": describe(error)}
    try:
        instance.analyze(WARMUP_CODE, WARMUP_NAME)
    except MemoryError:
        return None, {"ready": False, "reason": "does not fit in its memory limit", "detail": "MemoryError during the warm-up run"}
    except Exception as error:
        traceback.print_exc()
        return None, {"ready": False, "reason": "failed its warm-up run", "detail": describe(error)}
    return instance, {"ready": True, "tool": tool, "version": tool_version(tool, module), "python": sys.executable}


def describe(error):
    return ("%s: %s" % (type(error).__name__, error)).strip().rstrip(":")


def probe():
    """Which tools this interpreter can import, without importing them (cheap)."""
    import importlib.util

    tools = {}
    for tool in TOOLS:
        try:
            found = importlib.util.find_spec(tool) is not None
        except Exception:
            found = False
        tools[tool] = {"ok": found}
        if found:
            tools[tool]["version"] = tool_version(tool, None)
    return {"python": sys.executable, "version": sys.version.split()[0], "tools": tools}


def watch_parent():
    """Exit when the server process goes away, even in the middle of a long lint (no orphans)."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def take_protocol_streams():
    """Keep the real stdin/stdout for the protocol; whatever else reads fd 0 gets nothing and whatever
    else writes fd 1 (prints, C extensions) ends up on stderr."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
    sys.stdout = sys.stderr
    return proto_in, proto_out


def send(proto_out, message):
    proto_out.write(json.dumps(message, ensure_ascii=False) + "\n")
    proto_out.flush()


def serve(tool_name, memory_mb=None):
    proto_in, proto_out = take_protocol_streams()
    if memory_mb is not None:
        cap_memory(memory_mb)
    watch_parent()
    workdir = os.getcwd()
    tool, ready = load_tool(tool_name, workdir)
    send(proto_out, ready)
    if tool is None:
        return 2
    # measured between jobs, before the next job's own input is read (its line and decoded bytes are the job's)
    warm_mb = address_space_mb()
    held_mb = 0
    for line in proto_in:
        if not line.strip():
            continue
        request = json.loads(line)
        started, cpu = now_ms(), time.process_time()
        result = None
        try:
            result = tool.analyze(base64.b64decode(request["source"], validate=True), check_filename(request["filename"]))
            cpu_ms = (time.process_time() - cpu) * 1000.0
            reply = {"id": request["id"], "ok": True, "result": result, "started": started, "finished": now_ms(), "cpuMs": cpu_ms, "rssMb": rss_mb()}
        except MemoryError:
            reply = {"id": request["id"], "ok": False, "memoryLimit": True}
        except Exception as error:
            traceback.print_exc()
            reply = {"id": request["id"], "ok": False, "error": describe(error)}
        result = None  # what the job allocated is freed before the reply is built
        if memory_mb is not None and (reply.get("memoryLimit") or peak_address_space_mb() >= memory_mb * MEMORY_LIMIT_MARGIN):
            reply = {"id": request["id"], "ok": False, "memoryLimit": True, "peakMb": round(peak_address_space_mb()), "heldMb": round(max(held_mb, 0))}
        send(proto_out, reply)
        reply = request = line = None
        held_mb = address_space_mb() - warm_mb
    return 0


def main(argv):
    if argv[:1] == ["--probe"]:
        print(json.dumps(probe()))
        return 0
    if len(argv) == 2 and argv[0] == "--tool" and argv[1] in TOOLS:
        return serve(argv[1])
    if len(argv) == 4 and argv[0] == "--tool" and argv[1] in TOOLS and argv[2] == "--memory-mb" and argv[3].isdigit():
        return serve(argv[1], int(argv[3]))
    sys.stderr.write("usage: worker.py --tool {pylint,bandit,radon} [--memory-mb N] | --probe\n")
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
