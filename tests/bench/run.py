"""`make bench`: cold start and size of the six functions against two baselines.

A benchmark, not a test: it prints figures and asserts nothing about speed.

Builds the six functions and two baselines (`tests/bench/echo`: a bare
`lambda_runtime` echo; `tests/bench/sdk_ec2`: aws-config's default chain, an
`aws-sdk-ec2` client and one `DescribeInstances`) in one cargo-lambda run
with the release profile, then starts each binary, taken out of its zip,
`--runs` times under

- a fake Lambda Runtime API (one per start, on loopback) that hands over one
  event and records when `/next` and the posted response arrive, reading the
  process's peak RSS (`VmHWM` in /proc/<pid>/status) before it answers the
  post;
- the sandbox's AWS endpoint (moto plus the sandbox world, on loopback),
  which records when the process's first AWS request arrives.

Each function gets the environment Lambda gives it plus the sandbox's
deployment config, and the first event the state machine sends it in the
`happy_path` scenario (tests/bench/events.json, recorded from a sandbox run,
with `${WORKER}`, `${COMMAND}` and `${EXECUTION}` for what each run creates),
its timestamps moved to now.
Times are from just before the spawn (`time.perf_counter`). Medians of the
runs go to target/bench/cold-start.md (and, with --readme, into docs/performance.md
between the bench markers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from moto.core.config import default_user_config  # noqa: E402

from sandbox import moto_patches  # noqa: E402
from sandbox.lambda_host import lambda_environment  # noqa: E402
from sandbox.runner import ACCOUNT, REGION, SANDBOX_CONFIG, Run  # noqa: E402
from sandbox.scenario import load  # noqa: E402
from sandbox.server import FUNCTION_KEY_PREFIX, SandboxServer  # noqa: E402

FUNCTIONS = ["rds_check", "ec2_start", "ssm_launch", "poll_ec2_state", "rds_stop", "emit_metrics"]
BASELINES = {"bench_echo": "echo (lambda_runtime)", "bench_sdk_ec2": "aws-sdk-ec2 + aws-config"}
REFERENCE = "bench_sdk_ec2"
TARGET = "x86_64-unknown-linux-gnu.2.34"  # as cdk/scripts/package.sh builds: AL2023's glibc
TARGET_ARM64 = "aarch64-unknown-linux-gnu.2.34"
LAMBDA_DIR = ROOT / "target" / "bench" / "lambda"
LAMBDA_DIR_ARM64 = ROOT / "target" / "bench" / "lambda-arm64"
OUT_DIR = ROOT / "target" / "bench"
WRAP: list[str] = []  # --wrap
EXTRA_ENV: dict[str, str] = {}  # --env
UNSET: list[str] = []  # --unset
SECTIONS: list[bool] = []  # --sections
README_BEGIN = "<!-- bench:begin (make bench writes this block) -->"
README_END = "<!-- bench:end -->"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def build_commands(arm64: bool) -> list[list[str]]:
    """The functions as `make package` builds them; the baselines in a cargo run of their own.

    Separate runs keep cargo from unifying features across them: the baselines
    use the SDK's default HTTPS client, which the functions do not link.
    """
    cargo_lambda = [str(ROOT / ".venv" / "bin" / "cargo-lambda"), "lambda", "build", "--release", "--output-format", "zip"]

    def packages(crates: list[str]) -> list[str]:
        return [arg for crate in crates for arg in ("-p", crate)]

    commands = [
        cargo_lambda + ["--target", TARGET, "--lambda-dir", str(LAMBDA_DIR)] + packages(FUNCTIONS),
        cargo_lambda + ["--target", TARGET, "--lambda-dir", str(LAMBDA_DIR)] + packages(list(BASELINES)),
    ]
    if arm64:
        commands.append(cargo_lambda + ["--target", TARGET_ARM64, "--lambda-dir", str(LAMBDA_DIR_ARM64)] + packages(FUNCTIONS))
    return commands


def arm64_installed() -> bool:
    try:
        out = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return False
    return "aarch64-unknown-linux-gnu" in out.split()


# -- the fake Lambda Runtime API ------------------------------------------------------------
class Start:
    """One cold start: the event to hand over and what arrived when."""

    def __init__(self, name: str, event: bytes) -> None:
        self.name = name
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.pid = 0
        self.spawned = 0.0
        self.next_at: float | None = None
        self.aws_at: float | None = None
        self.answered_at: float | None = None
        self.answer = ""  # response | error | init-error
        self.answer_body = b""
        self.hwm_kb: int | None = None
        self.binary = ""
        self.rss_parts: dict[str, int] | None = None
        self.sections: dict[str, list[int]] = {}
        self.cpu_next: float | None = None
        self.cpu_aws: float | None = None
        self.cpu_answer: float | None = None
        self.handed = False
        self.done = threading.Event()
        # Set once `pid` is known: a fast binary can call the runtime API before Popen returns.
        self.pid_known = threading.Event()
        self.closing = threading.Event()


def peak_rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# Where the resident pages are, in the order the RSS table shows them.
RSS_PARTS = ["code", "read-only data", "writable data", "heap", "stack and other", "shared libraries"]


def rss_by_part_kb(pid: int, binary: str) -> dict[str, int] | None:
    """Resident kB per part of the address space (/proc/<pid>/smaps), when the first response arrives.

    The binary's own mappings by permission: `r-xp` its code; `r--p` its
    read-only data, which holds the relocation table the loader reads and,
    after RELRO, the pointers it relocated (.data.rel.ro); `rw-p` its
    writable data (.data, relocated at load too, so resident whole).
    """
    parts = dict.fromkeys(RSS_PARTS, 0)
    part = "stack and other"
    try:
        with open(f"/proc/{pid}/smaps", encoding="ascii", errors="replace") as smaps:
            for line in smaps:
                fields = line.split()
                if fields and not fields[0].endswith(":"):  # a mapping's header: range perms offset dev inode [path]
                    perms, path = fields[1], fields[5] if len(fields) > 5 else ""
                    if path == binary:
                        part = {"r-xp": "code", "r--p": "read-only data"}.get(perms, "writable data")
                    elif ".so" in path:
                        part = "shared libraries"
                    elif path == "[heap]":
                        part = "heap"
                    else:
                        part = "stack and other"
                elif fields and fields[0] == "Rss:":
                    parts[part] += int(fields[1])
    except (OSError, ValueError, IndexError):
        return None
    return parts


def elf_sections(binary: str) -> list[tuple[str, int, int]]:
    """(name, file offset, size) of each allocated section, from `readelf -SW`."""
    found = []
    out = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 6 and re.fullmatch(r"\[\d+\]", fields[0]) and fields[1].startswith("."):
            found.append((fields[1], int(fields[4], 16), int(fields[5], 16)))
    return found


def resident_pages_by_section(pid: int, binary: str) -> dict[str, list[int]]:
    """For each section of the binary: [pages resident, pages mapped] (/proc/<pid>/pagemap).

    A page shared by two sections counts for both.
    """
    sections = elf_sections(binary)
    pages: dict[str, list[int]] = {}
    try:
        with open(f"/proc/{pid}/maps", encoding="ascii") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                fields = line.split()
                if len(fields) < 6 or fields[5] != binary:
                    continue
                low, high = (int(x, 16) for x in fields[0].split("-"))
                offset = int(fields[2], 16)
                for page in range(low, high, 4096):
                    pagemap.seek(page // 4096 * 8)
                    present = int.from_bytes(pagemap.read(8), "little") >> 63  # bit 63: page present
                    start = offset + page - low
                    for name, at, size in sections:
                        if at < start + 4096 and start < at + max(size, 1):
                            counts = pages.setdefault(name, [0, 0])
                            counts[0] += present
                            counts[1] += 1
    except OSError:
        return {}
    return pages


def cpu_ms(pid: int) -> float | None:
    """CPU time the process has used so far, all its threads (ns precision, unlike utime)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as stat:
                total += int(stat.read().split()[0])
    except (OSError, ValueError):
        return None
    return total / 1e6


def runtime_api(start: Start) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            now = time.perf_counter()
            start.pid_known.wait(5)
            if not self.path.endswith("/runtime/invocation/next"):
                self._reply(404, b"{}")
                return
            if start.next_at is None:
                start.next_at, start.cpu_next = now, cpu_ms(start.pid)
            if start.handed:  # the second /next: hold it until the run ends
                start.closing.wait(30)
                self.close_connection = True
                return
            start.handed = True
            deadline = int(time.time() * 1000) + 30_000
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", start.request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{start.name}")
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
            self.send_header("Content-Length", str(len(start.event)))
            self.end_headers()
            self.wfile.write(start.event)

        def do_POST(self) -> None:  # noqa: N802
            now = time.perf_counter()
            start.pid_known.wait(5)
            hwm, cpu = peak_rss_kb(start.pid), cpu_ms(start.pid)  # before the answer lets the process go on
            parts = rss_by_part_kb(start.pid, start.binary)
            sections = resident_pages_by_section(start.pid, start.binary) if SECTIONS else {}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if start.answered_at is None:
                start.answered_at, start.hwm_kb, start.cpu_answer, start.answer_body = now, hwm, cpu, body
                start.rss_parts, start.sections = parts, sections
                start.answer = self.path.rsplit("/", 1)[-1]
                if "/init/" in self.path:
                    start.answer = "init-error"
            self._reply(202, b'{"status":"OK"}')
            start.done.set()

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the process was killed while it held a connection

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# -- the AWS endpoint -----------------------------------------------------------------------
class Recorder:
    """WSGI wrapper around the sandbox app: when each start's first AWS request arrived."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.functions = app.functions  # SandboxServer.stop closes these
        self.current: Start | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        now = time.perf_counter()
        current = self.current
        if current is not None and current.aws_at is None and f"Credential={FUNCTION_KEY_PREFIX}" in environ.get("HTTP_AUTHORIZATION", ""):
            current.pid_known.wait(5)
            current.aws_at, current.cpu_aws = now, cpu_ms(current.pid)
        return self.app(environ, start_response)


class Sandbox:
    """The sandbox world of `happy_path` with the DB available and the worker running."""

    def __init__(self, work: Path) -> None:
        scenario = load(ROOT / "tests" / "scenarios" / "happy_path.json")
        scenario.rds.status = "available"
        for instance in scenario.instances:
            instance.state = "running"
        self.run = Run(scenario, ROOT / "statemachine" / "workflow.asl.json", work, work, live=False)
        self.recorder = Recorder(self.run.app)
        self.run.server = SandboxServer(self.recorder)  # type: ignore[arg-type]
        self.run.server.start()
        os.environ["MOTO_PORT"] = str(self.run.server.port)
        default_user_config["stepfunctions"] = {"execute_state_machine": False}
        moto_patches.apply()
        self.run._setup_resources()
        self.port = self.run.server.port
        self.db = scenario.rds.identifier
        self.worker = next(iter(self.run.instance_ids.values()))

    @property
    def command(self) -> str:
        """The job command `ssm_launch` sent last (it starts before `poll_ec2_state` in every round)."""
        with self.run.world.lock:
            commands = list(self.run.world.commands)
        return commands[-1].command_id if commands else "00000000-0000-0000-0000-000000000000"

    def reset(self) -> None:
        """What a step may have changed (rds_stop stops the DB) back to the start."""
        world = self.run.world
        with world.lock:
            world.init_db(self.db, "available")
            world.init_instance(self.worker, "running")

    def stop(self) -> None:
        self.run.server.stop()


# -- one start ----------------------------------------------------------------------------------
def shifted(value: Any, delta: dt.timedelta) -> Any:
    if isinstance(value, dict):
        return {k: shifted(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [shifted(v, delta) for v in value]
    if isinstance(value, str) and TIMESTAMP.match(value):
        moved = dt.datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
        return moved.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moved.microsecond // 1000:03d}Z"
    return value


def event_for(name: str, templates: dict[str, Any], sandbox: Sandbox, n: int) -> bytes:
    if name not in templates:
        return json.dumps({"bench": n}).encode()
    text = json.dumps(templates[name])
    for key, value in {"WORKER": sandbox.worker, "COMMAND": sandbox.command, "EXECUTION": f"bench-{n}"}.items():
        text = text.replace("${" + key + "}", value)
    event = json.loads(text)
    started = dt.datetime.fromisoformat(templates[name]["execution"]["startTime"].replace("Z", "+00:00"))
    return json.dumps(shifted(event, dt.datetime.now(dt.UTC) - started)).encode()


def environment(name: str, sandbox: Sandbox, runtime_port: int) -> dict[str, str]:
    """What Lambda sets (credentials and region in the environment), the sandbox's deployment config."""
    base = dict(SANDBOX_CONFIG)
    base.update({"DB_INSTANCE_IDENTIFIER": sandbox.db, "WORKER_INSTANCE_IDS": sandbox.worker})
    env = lambda_environment(name, base)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime_port}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": f"{FUNCTION_KEY_PREFIX}{name}",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{sandbox.port}",
            "AWS_EC2_METADATA_DISABLED": "true",  # never reach for an instance metadata service
        }
    )
    return env


def cold_start(name: str, binary: Path, sandbox: Sandbox, templates: dict[str, Any], n: int, log: Path) -> Start:
    start = Start(name, event_for(name, templates, sandbox, n))
    start.binary = str(binary)
    server = runtime_api(start)
    env = environment(name, sandbox, server.server_port)
    env.update(EXTRA_ENV)
    for name in UNSET:
        env.pop(name, None)
    sandbox.reset()
    sandbox.recorder.current = start
    with open(log, "ab") as out:
        start.spawned = time.perf_counter()
        proc = subprocess.Popen(WRAP + [str(binary)], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd="/")
        start.pid = proc.pid
        start.pid_known.set()
        finished = start.done.wait(20)
        proc.kill()
        proc.wait()
    sandbox.recorder.current = None
    start.closing.set()
    server.shutdown()
    server.server_close()
    if not finished:
        start.answer = "no answer"
    return start


# -- report -------------------------------------------------------------------------------------
def ms(start: Start, at: float | None) -> float | None:
    return None if at is None else (at - start.spawned) * 1000


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if len(present) == len(values) and present else None


def rss_part_medians(got: list[Start]) -> dict[str, float] | None:
    if any(s.rss_parts is None for s in got):
        return None
    return {part: statistics.median(s.rss_parts[part] for s in got if s.rss_parts) for part in RSS_PARTS}


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def ratio(row: dict[str, Any], ref: dict[str, Any], key: str) -> float | None:
    return None if row[key] is None or not ref[key] else row[key] / ref[key]


def report(rows: dict[str, dict[str, Any]], runs: int, when: str) -> str:
    ref = rows[REFERENCE]
    lines = [
        f"Cold start, x86_64 release build (`{TARGET}`), median of {runs} starts each; {when}; {machine()}.",
        "Wall times from process spawn: to its first `/next` (init), to its first AWS request, to its first response posted.",
        "CPU: what the process (all threads) had used at its first AWS request and at its first response (schedstat).",
        "Peak RSS: VmHWM when the first response arrives. Binary: stripped x86_64 `bootstrap`; zip: `bootstrap.zip`"
        f" (arm64: `{TARGET_ARM64}`, built, not run; baselines not built for arm64). Ratios: to the aws-sdk-ec2 baseline.",
        "",
        "| function | init ms | first AWS request ms | first response ms | CPU ms to first AWS request | CPU ms to first response "
        "| peak RSS MB | binary MB | zip MB | arm64 zip MB | first AWS request ratio | its CPU ratio | RSS ratio | answer |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for name, row in rows.items():
        label = f"*baseline: {BASELINES[name]}*" if name in BASELINES else name
        arm = None if row["zip_arm64"] is None else row["zip_arm64"] / 1e6
        lines.append(
            f"| {label} | {fmt(row['init'])} | {fmt(row['aws'])} | {fmt(row['response'])} | {fmt(row['cpu_aws'])} | {fmt(row['cpu_response'])} "
            f"| {fmt(row['rss'])} | {row['binary'] / 1e6:.2f} | {row['zip'] / 1e6:.2f} | {fmt(arm, 2)} "
            f"| {fmt(ratio(row, ref, 'aws'), 2)} | {fmt(ratio(row, ref, 'cpu_aws'), 2)} | {fmt(ratio(row, ref, 'rss'), 2)} | {row['answer']} |"
        )
    lines += [
        "",
        "Where the peak RSS is (kB resident when the first response arrives, median; /proc/<pid>/smaps): the binary's code,"
        " its read-only data (with the relocation table and the pointers relocated at load), its writable data (relocated"
        " at load: resident whole), the heap, the stack and other anonymous memory, and the C library (libc, libm, ld.so).",
        "",
        "| function | " + " | ".join(RSS_PARTS) + " | total |",
        "|---|" + "--:|" * (len(RSS_PARTS) + 1),
    ]
    for name, row in rows.items():
        label = f"*baseline: {BASELINES[name]}*" if name in BASELINES else name
        parts = row["rss_parts"]
        cells = [fmt(parts[p], 0) for p in RSS_PARTS] + [fmt(sum(parts.values()), 0)] if parts else ["-"] * (len(RSS_PARTS) + 1)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("MB = 10^6 bytes. Command: `make bench` (`.venv/bin/python tests/bench/run.py --runs 7 --readme`).")
    return "\n".join(lines) + "\n"


def section_report(by_binary: dict[str, dict[str, list[int]]]) -> str:
    """Pages resident / pages mapped per section, for the sections of 8 pages or more in any binary."""
    names = [n for n in by_binary if by_binary[n]]
    big = sorted({s for n in names for s, (_, mapped) in by_binary[n].items() if mapped >= 8}, key=lambda s: min(
        (list(by_binary[n]).index(s) for n in names if s in by_binary[n]), default=0))
    lines = ["Resident 4 KiB pages of each ELF section at the first response (resident/mapped; last start):", "",
             "| function | " + " | ".join(f"`{s}`" for s in big) + " |", "|---|" + "--:|" * len(big)]
    for name in names:
        cells = [("/".join(map(str, by_binary[name][s])) if s in by_binary[name] else "-") for s in big]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def update_readme(table: str) -> None:
    readme = ROOT / "docs" / "performance.md"
    text = readme.read_text(encoding="utf-8")
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        print(f"bench: docs/performance.md has no {README_BEGIN!r} ... {README_END!r} block; not updated", file=sys.stderr)
        return
    text = text[: begin + len(README_BEGIN)] + "\n" + table + text[end:]
    readme.write_text(text, encoding="utf-8")
    print("bench: docs/performance.md updated")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="cold starts per binary (the median is reported)")
    parser.add_argument("--no-build", action="store_true", help="use the zips already in --lambda-dir")
    parser.add_argument("--lambda-dir", type=Path, default=LAMBDA_DIR, help="where the <binary>/bootstrap.zip are (default: %(default)s)")
    parser.add_argument("--no-arm64", action="store_true", help="no arm64 build (its zip sizes are left out)")
    parser.add_argument("--only", action="append", help="measure only this binary (repeatable)")
    parser.add_argument("--readme", action="store_true", help="also write the table into docs/performance.md")
    parser.add_argument("--env", action="append", metavar="NAME=VALUE", help="profile: one more variable for every binary (repeatable)")
    parser.add_argument("--unset", action="append", metavar="NAME", help="profile: leave this variable out (e.g. AWS_LAMBDA_FUNCTION_NAME: start as outside Lambda)")
    parser.add_argument("--sections", action="store_true", help="profile: also print, per binary, the pages of each ELF section resident at the first response (last start)")
    parser.add_argument("--wrap", default="", help="profile: start each binary under this command (e.g. 'strace -f -r -o /tmp/s'); its figures then mean nothing")
    args = parser.parse_args()
    WRAP[:] = shlex.split(args.wrap)
    EXTRA_ENV.update(item.split("=", 1) for item in args.env or [])
    UNSET[:] = args.unset or []
    SECTIONS[:] = [args.sections]

    arm64 = not args.no_arm64 and arm64_installed()
    if not arm64 and not args.no_arm64:
        print("bench: no arm64 zip sizes: the Rust target aarch64-unknown-linux-gnu is not installed", file=sys.stderr)
    if not args.no_build:
        env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
        for command in build_commands(arm64):
            print("bench: " + shlex.join(command), flush=True)
            subprocess.run(command, cwd=ROOT, env=env, check=True)

    names = [n for n in FUNCTIONS + list(BASELINES) if not args.only or n in args.only or n == REFERENCE]
    bin_dir = OUT_DIR / "bin"
    logs = OUT_DIR / "logs"
    bin_dir.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    binaries: dict[str, Path] = {}
    sizes: dict[str, tuple[int, int, int | None]] = {}
    for name in names:
        archive = args.lambda_dir / name / "bootstrap.zip"
        with zipfile.ZipFile(archive) as zipped:
            data = zipped.read("bootstrap")
        binary = bin_dir / name
        binary.write_bytes(data)
        binary.chmod(0o755)
        binaries[name] = binary
        arm_zip = LAMBDA_DIR_ARM64 / name / "bootstrap.zip"
        sizes[name] = (len(data), archive.stat().st_size, arm_zip.stat().st_size if arm64 and arm_zip.is_file() else None)
        (logs / f"{name}.log").write_bytes(b"")

    templates = json.loads((ROOT / "tests" / "bench" / "events.json").read_text(encoding="utf-8"))
    logging.disable(logging.WARNING)
    with_work = OUT_DIR / "sandbox"
    with_work.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(with_work)
    starts: dict[str, list[Start]] = {name: [] for name in names}
    try:
        for name in names:  # one unmeasured start each: the page cache holds every binary
            cold_start(name, binaries[name], sandbox, templates, 0, logs / f"{name}.log")
        for n in range(1, args.runs + 1):  # interleaved, so a slow moment hits every binary alike
            for name in names:
                starts[name].append(cold_start(name, binaries[name], sandbox, templates, n, logs / f"{name}.log"))
            print(f"bench: round {n}/{args.runs} done", flush=True)
    finally:
        sandbox.stop()

    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        got = starts[name]
        answers = sorted({s.answer if s.answer != "error" else f"error: {json.loads(s.answer_body or b'{}').get('errorType', '?')}" for s in got})
        rows[name] = {
            "init": median([ms(s, s.next_at) for s in got]),
            "aws": None if name == "bench_echo" else median([ms(s, s.aws_at) for s in got]),
            "response": median([ms(s, s.answered_at) for s in got]),
            "cpu_aws": None if name == "bench_echo" else median([s.cpu_aws for s in got]),
            "cpu_response": median([s.cpu_answer for s in got]),
            "rss": median([None if s.hwm_kb is None else s.hwm_kb * 1024 / 1e6 for s in got]),
            "rss_parts": rss_part_medians(got),
            "binary": sizes[name][0],
            "zip": sizes[name][1],
            "zip_arm64": sizes[name][2],
            "answer": ", ".join(answers),
        }
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    table = report(rows, args.runs, when)
    (OUT_DIR / "cold-start.md").write_text(table, encoding="utf-8")
    (OUT_DIR / "cold-start.json").write_text(
        json.dumps({n: [vars(s) | {"done": None, "closing": None, "event": None, "answer_body": s.answer_body.decode(errors="replace")} for s in starts[n]] for n in names}, indent=1, default=str),
        encoding="utf-8",
    )
    print()
    print(table)
    if args.sections:
        print(section_report({name: starts[name][-1].sections for name in names}))
    print(f"bench: wrote {OUT_DIR / 'cold-start.md'}")
    if args.readme:
        update_readme(table)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # moto's threads are not daemons
