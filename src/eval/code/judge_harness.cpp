// The Python program that runs inside the sandbox and judges one sample exactly as lcb_runner's
// testing_util does (same wrapping of stdin programs, same patched stdin, same comparisons, same
// disabled os functions), reporting one JSON line per test started and a final verdict line.
#include "judge_harness.h"

namespace cotrain {

const char* const kJudgeHarness = R"PY(
import ast, faulthandler, json, os, signal, sys, time
from decimal import Decimal
from io import StringIO
from types import ModuleType

# Prepended to every program, as lcb_runner does: solutions rely on these names.
IMPORTS = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
    "from random import *\nfrom statistics import *\nfrom itertools import *\nfrom functools import *\n"
    "from operator import *\nfrom io import *\nfrom sys import *\nfrom json import *\n"
    "from builtins import *\nfrom typing import *\nimport string\nimport re\nimport datetime\n"
    "import collections\nimport heapq\nimport bisect\nimport copy\nimport math\nimport random\n"
    "import statistics\nimport itertools\nimport functools\nimport operator\nimport io\nimport sys\n"
    "import json\nsys.setrecursionlimit(50000)\n")
OUTPUT_LIMIT = 64 << 20


class TimeoutException(Exception):
    pass


class OutputLimit(Exception):
    pass


class CappedStringIO(StringIO):
    def write(self, s):
        if self.tell() + len(s) > OUTPUT_LIMIT:
            raise OutputLimit("more than %d characters of output" % OUTPUT_LIMIT)
        return super().write(s)


def on_alarm(signum, frame):
    raise TimeoutException


def start_timer(seconds):
    signal.setitimer(signal.ITIMER_REAL, seconds)


def stop_timer():
    signal.setitimer(signal.ITIMER_REAL, 0)


def drop_main_guard(code):
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
            code = ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)
    except Exception:
        pass
    return code


def wrap_in_function(code):
    # Imports stay at module level; everything else becomes the body of wrapped_function().
    try:
        tree = ast.parse(code)
        imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        body = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
        function = ast.FunctionDef(
            name="wrapped_function",
            args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=body, decorator_list=[], lineno=-1)
        return IMPORTS + "\n" + ast.unparse(imports) + "\n" + ast.unparse(function)
    except Exception:
        return code


def load(code, timeout):
    start_timer(timeout)
    try:
        module = ModuleType("tmp_sol", "")
        exec(code, module.__dict__)
        return module.Solution() if "class Solution" in code else module
    finally:
        stop_timer()


def call_with_stdin(method, inputs):
    # What lcb_runner's stack of unittest.mock patches amounts to (without importing mock, which
    # costs 0.1 s a sample): read/readline/readlines replaced on the original sys.stdin object,
    # then sys.stdin itself a StringIO of the input, and builtins.open a fake that reads the input.
    # Names bound by the prelude's `from builtins import *` / `from sys import *` stay the real ones.
    import builtins
    lines = iter(inputs.split("\n"))
    original_stdin, original_open = sys.stdin, builtins.open
    replaced = {"read": lambda *args: inputs, "readline": lambda *args: next(lines),
                "readlines": lambda *args: inputs.split("\n")}
    saved = {name: original_stdin.__dict__.get(name) for name in replaced}
    for name, value in replaced.items():
        setattr(original_stdin, name, value)
    sys.stdin = StringIO(inputs)
    builtins.open = lambda *args, **kwargs: StringIO(inputs)
    try:
        return method()
    except SystemExit:
        pass
    finally:
        builtins.open = original_open
        sys.stdin = original_stdin
        for name, value in saved.items():
            if value is None:
                original_stdin.__dict__.pop(name, None)
            else:
                setattr(original_stdin, name, value)


def stripped_lines(text):
    return [line.strip() for line in text.strip().split("\n")]


def as_decimals(line):
    try:
        return [Decimal(item) for item in line.split()]
    except Exception:
        return None


def same_output(got, expected):
    got_lines, expected_lines = stripped_lines(got), stripped_lines(expected)
    if len(got_lines) != len(expected_lines):
        return False
    for a, b in zip(got_lines, expected_lines):
        if a == b:
            continue
        da, db = as_decimals(a), as_decimals(b)
        if da is None or db is None or da != db:
            return False
    return True


def failure(e):
    if isinstance(e, TimeoutException):
        return "time limit"
    if isinstance(e, MemoryError):
        return "memory limit"
    if isinstance(e, OutputLimit):
        return "wrong answer"
    return "runtime error"


def grade_stdin(code, inputs, outputs, timeout, send):
    module = load(wrap_in_function(drop_main_guard(code)), timeout)
    method = getattr(module, "wrapped_function", None)
    if method is None:
        return "compile error", -1, "no program"
    for i, (given, expected) in enumerate(zip(inputs, outputs)):
        send(test=i)
        saved, sys.stdout = sys.stdout, CappedStringIO()
        try:
            start_timer(timeout)
            call_with_stdin(method, given)
            stop_timer()
            got = sys.stdout.getvalue()
        except Exception as e:
            stop_timer()
            return failure(e), i, repr(e)[:300]
        finally:
            stop_timer()
            sys.stdout = saved
        if not same_output(got, expected):
            return "wrong answer", i, ""
    return "passed", -1, ""


def grade_call(code, inputs, outputs, fn_name, timeout, send):
    module = load(IMPORTS + "\n\n" + code, timeout)
    method = getattr(module, fn_name, None)
    if method is None:
        return "compile error", -1, "no function " + fn_name
    arguments = [[json.loads(line) for line in given.split("\n")] for given in inputs]
    expected_values = [json.loads(expected) for expected in outputs]
    for i, (args, expected) in enumerate(zip(arguments, expected_values)):
        send(test=i)
        try:
            start_timer(timeout)
            got = method(*args)
            stop_timer()
            if isinstance(got, tuple):
                got = list(got)
            if not (got == expected):
                return "wrong answer", i, ""
        except Exception as e:
            stop_timer()
            return failure(e), i, repr(e)[:300]
        finally:
            stop_timer()
    return "passed", -1, ""


def disable_destructive_functions():
    # What lcb_runner's reliability_guard switches off; kept so verdicts match (a program that
    # calls os.fork fails there, so it fails here). The sandbox, not this, is the security.
    import builtins, shutil, subprocess
    faulthandler.disable()
    builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
                 "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    builtins.help = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    timeout = float(sys.argv[1])
    with open(os.path.join(here, "tests.json")) as f:
        tests = json.load(f)
    with open(os.path.join(here, "solution.py")) as f:
        code = f.read()
    report = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the program's own fd 1 goes nowhere
    dumps, write, flush, exit_now = json.dumps, report.write, report.flush, os._exit

    current = {"test": -1}

    def send(**fields):
        current["test"] = fields["test"]
        write(dumps(fields) + "\n")
        flush()

    signal.signal(signal.SIGALRM, on_alarm)
    disable_destructive_functions()
    fn_name = tests["fn_name"]
    started = time.time()
    try:
        if fn_name is None:
            verdict, index, message = grade_stdin(code, tests["inputs"], tests["outputs"], timeout, send)
        else:
            verdict, index, message = grade_call(code, tests["inputs"], tests["outputs"], fn_name, timeout, send)
    except SyntaxError as e:  # raised while compiling; one raised by a test is a runtime error
        verdict, index, message = "compile error", -1, repr(e)[:300]
    except BaseException as e:
        verdict, index, message = failure(e), current["test"], repr(e)[:300]
    send(verdict=verdict, test=index, time=time.time() - started, message=message)
    exit_now(0)  # no atexit handlers or lingering threads of the program


main()
)PY";

}  // namespace cotrain
