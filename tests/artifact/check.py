"""Checks the Lambda zips `make package` builds, as Lambda would take them.

    .venv/bin/python tests/artifact/check.py ARCH [--no-run] [--synth]

ARCH is arm64 or x86_64; the zips are target/lambda/ARCH/<function>/bootstrap.zip.
For each of the six functions:

- the directory holds the six functions' zips and nothing else;
- the zip exists and holds exactly one entry, `bootstrap`, a regular file with
  execute permission;
- `bootstrap` is a 64-bit little-endian ELF executable whose machine is ARCH's,
  whose program interpreter is that architecture's glibc loader, and whose
  highest `GLIBC_` symbol version needed is at most 2.34, the glibc of the
  Lambda OS (provided.al2023); the versions are read from the dynamic section,
  as the loader reads them.

Then (unless --no-run) the unzipped bootstraps, named after their functions in
target/package-check/ARCH/, run the `happy_path` scenario end to end in the
sandbox. An arm64 bootstrap runs under user-mode emulation: `qemu-aarch64` and
the aarch64 C library, from the system when installed, else downloaded from
the distribution's packages (`apt-get download qemu-user-static
libc6-arm64-cross`, unpacked into target/qemu without installing anything).

--synth: `cdk synth` with `lambda.architecture=ARCH` and the real zips; each
function's code in the template must be its zip, byte for byte, and its
architecture ARCH.

Exit status 0 when everything holds, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("rds_check", "ec2_start", "ssm_launch", "poll_ec2_state", "rds_stop", "emit_metrics")
# The C library of provided.al2023.
MAX_GLIBC = (2, 34)
EM_X86_64 = 62
EM_AARCH64 = 183
ARCHES = {
    # arch: (ELF e_machine, glibc's program interpreter on that architecture)
    "x86_64": (EM_X86_64, "/lib64/ld-linux-x86-64.so.2"),
    "arm64": (EM_AARCH64, "/lib/ld-linux-aarch64.so.1"),
}
MACHINE_NAMES = {EM_X86_64: "x86_64", EM_AARCH64: "arm64 (aarch64)"}
SCENARIO = REPO_ROOT / "tests" / "scenarios" / "happy_path.json"
QEMU_DIR = REPO_ROOT / "target" / "qemu"
# qemu-user-static rather than qemu-user: the same emulator, statically linked,
# so unpacking it needs none of qemu-user's shared-library dependencies.
QEMU_PACKAGES = ("qemu-user-static", "libc6-arm64-cross")


class ArtifactError(Exception):
    """A check that does not hold; the message says which and why."""


# ---------------------------------------------------------------- ELF reading

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB = 0, 1, 5
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF


@dataclass
class ElfInfo:
    machine: int
    interpreter: str | None = None
    needed: list[str] = field(default_factory=list)
    # (library, version name) for every symbol version the binary needs.
    version_needs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def glibc_versions(self) -> list[tuple[int, ...]]:
        """The `GLIBC_x.y[.z]` versions needed, as tuples; raises on `GLIBC_PRIVATE` and the like."""
        out = []
        for lib, name in self.version_needs:
            if not name.startswith("GLIBC_"):
                continue
            try:
                out.append(tuple(int(p) for p in name[len("GLIBC_") :].split(".")))
            except ValueError:
                raise ArtifactError(f"needs {name} from {lib}, which no other glibc build is bound to provide") from None
        return out


def _cstr(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if offset < 0 or offset >= len(data) or end < 0:
        raise ArtifactError(f"string at file offset {offset} is outside the file")
    return data[offset:end].decode("utf-8", "replace")


def read_elf(data: bytes) -> ElfInfo:
    """Machine, interpreter, DT_NEEDED libraries and symbol version needs of a 64-bit little-endian ELF."""
    if data[:4] != b"\x7fELF":
        raise ArtifactError("not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ArtifactError(f"not a 64-bit little-endian ELF (class {data[4]}, data {data[5]})")
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    if e_type not in (2, 3):  # ET_EXEC, ET_DYN (a position-independent executable)
        raise ArtifactError(f"not an executable (ELF type {e_type})")
    e_phoff = struct.unpack_from("<Q", data, 0x20)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    info = ElfInfo(machine=e_machine)

    loads: list[tuple[int, int, int]] = []  # (vaddr, filesz, offset)
    dynamic: tuple[int, int] | None = None
    for i in range(e_phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_filesz, p_offset))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
        elif p_type == PT_INTERP:
            info.interpreter = _cstr(data, p_offset)
    if dynamic is None:
        return info  # statically linked: needs nothing from the OS's C library

    def file_offset(addr: int) -> int:
        for vaddr, filesz, offset in loads:
            if vaddr <= addr < vaddr + filesz:
                return addr - vaddr + offset
        raise ArtifactError(f"address {addr:#x} of the dynamic section is in no loaded segment")

    tags: dict[int, list[int]] = {}
    offset, size = dynamic
    for pos in range(offset, offset + size, 16):
        tag, value = struct.unpack_from("<qQ", data, pos)
        if tag == DT_NULL:
            break
        tags.setdefault(tag, []).append(value)
    if DT_STRTAB not in tags:
        raise ArtifactError("dynamic section without a string table")
    strtab = file_offset(tags[DT_STRTAB][0])
    info.needed = [_cstr(data, strtab + v) for v in tags.get(DT_NEEDED, [])]
    if DT_VERNEED in tags:
        pos = file_offset(tags[DT_VERNEED][0])
        for _ in range(tags.get(DT_VERNEEDNUM, [0])[0]):
            _version, cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, pos)
            lib = _cstr(data, strtab + vn_file)
            aux = pos + vn_aux
            for _ in range(cnt):
                _hash, _flags, _other, vna_name, vna_next = struct.unpack_from("<IHHII", data, aux)
                info.version_needs.append((lib, _cstr(data, strtab + vna_name)))
                if not vna_next:
                    break
                aux += vna_next
            if not vn_next:
                break
            pos += vn_next
    return info


def version_text(v: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in v)


def check_elf(data: bytes, arch: str) -> str:
    """Raises ArtifactError unless `data` is an executable Lambda can run on `arch`; returns a summary."""
    machine, interpreter = ARCHES[arch]
    info = read_elf(data)
    if info.machine != machine:
        raise ArtifactError(f"ELF machine is {MACHINE_NAMES.get(info.machine, info.machine)}, not {arch}")
    if info.interpreter is not None and info.interpreter != interpreter:
        raise ArtifactError(f"program interpreter is {info.interpreter}, not {interpreter}")
    versions = info.glibc_versions
    highest = max(versions) if versions else None
    if highest is not None and highest > MAX_GLIBC:
        above = sorted({f"GLIBC_{version_text(v)}" for v in versions if v > MAX_GLIBC})
        raise ArtifactError(
            f"needs glibc {version_text(highest)} ({', '.join(above)}); the Lambda OS (provided.al2023) has {version_text(MAX_GLIBC)}"
        )
    glibc = f"GLIBC_{version_text(highest)}" if highest else "none"
    return f"{MACHINE_NAMES[info.machine]}, highest glibc version needed {glibc}, needs {', '.join(info.needed) or 'nothing'}"


def read_zip(path: Path) -> bytes:
    """The `bootstrap` of a Lambda zip; raises unless it is the zip's one entry, a regular executable file."""
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist")
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if names != ["bootstrap"]:
                raise ArtifactError(f"holds {names}, not exactly one entry named bootstrap")
            entry = z.getinfo("bootstrap")
            mode = entry.external_attr >> 16
            if not stat.S_ISREG(mode) or not mode & 0o111:
                raise ArtifactError(f"bootstrap is not an executable regular file (mode {mode:o})")
            return z.read(entry)
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"not a zip file ({exc})") from None


def zip_path(zips: Path, fn: str) -> Path:
    return zips / fn / "bootstrap.zip"


def shown(path: Path) -> str:
    """The path relative to the repository when it is inside it."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


# ---------------------------------------------------------------- emulation


def qemu_command() -> list[str]:
    """`qemu-aarch64 -L <aarch64 sysroot>`: the system's, else one unpacked from the distribution's packages."""
    sysroot = Path("/usr/aarch64-linux-gnu")
    system = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if system and (sysroot / "lib" / "ld-linux-aarch64.so.1").exists():
        return [system, "-L", str(sysroot)]
    root = QEMU_DIR / "root"
    qemu = root / "usr" / "bin" / "qemu-aarch64-static"
    local_sysroot = root / "usr" / "aarch64-linux-gnu"
    if not (qemu.is_file() and (local_sysroot / "lib" / "ld-linux-aarch64.so.1").exists()):
        if not shutil.which("apt-get"):
            raise ArtifactError("no qemu-aarch64 and no apt-get to fetch it: install qemu-user (or qemu-user-static) and libc6-arm64-cross")
        print(f"artifact-check: fetching {' and '.join(QEMU_PACKAGES)} (apt-get download) into {shown(QEMU_DIR)}", flush=True)
        debs = QEMU_DIR / "debs"
        shutil.rmtree(debs, ignore_errors=True)
        debs.mkdir(parents=True)
        r = subprocess.run(["apt-get", "download", *QEMU_PACKAGES], cwd=debs, capture_output=True, text=True)
        if r.returncode:
            last = (r.stderr.strip().splitlines() or ["no output"])[-1]
            raise ArtifactError(f"apt-get download {' '.join(QEMU_PACKAGES)} failed: {last}")
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        for deb in sorted(debs.glob("*.deb")):
            # Unpacks into root; nothing is installed (no root needed).
            if deb.name.startswith("qemu-user-static"):
                # Only the aarch64 emulator, not the other 30-odd.
                tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
                subprocess.run(["tar", "-x", "-C", str(root), "./usr/bin/qemu-aarch64-static"], input=tar, check=True)
            else:
                subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        shutil.rmtree(debs)
    return [str(qemu), "-L", str(local_sysroot)]


# ---------------------------------------------------------------- the checks


def check_zips(arch: str, zips: Path) -> dict[str, bytes]:
    problems, bootstraps = [], {}
    others = sorted(p.name for p in zips.iterdir() if p.name not in FUNCTIONS) if zips.is_dir() else []
    if others:
        problems.append(f"{shown(zips)}: holds {', '.join(others)} besides the six functions; only the functions belong in Lambda zips")
    for fn in FUNCTIONS:
        path = zip_path(zips, fn)
        try:
            data = read_zip(path)
            summary = check_elf(data, arch)
            bootstraps[fn] = data
            print(f"  ok  {fn:<15} {path.stat().st_size:>9} bytes zipped, {len(data):>9} unzipped: {summary}")
        except ArtifactError as exc:
            problems.append(f"{shown(path)}: {exc}")
    if problems:
        raise ArtifactError("\n".join(problems))
    return bootstraps


def run_scenario(arch: str, bootstraps: dict[str, bytes]) -> None:
    """happy_path with the unzipped bootstraps as the six functions."""
    bin_dir = REPO_ROOT / "target" / "package-check" / arch
    shutil.rmtree(bin_dir, ignore_errors=True)
    bin_dir.mkdir(parents=True)
    wrap = qemu_command() if arch == "arm64" else None
    for fn, data in bootstraps.items():
        exe = bin_dir / (f"{fn}.bootstrap" if wrap else fn)
        exe.write_bytes(data)
        exe.chmod(0o755)
        if wrap:
            launcher = bin_dir / fn
            launcher.write_text("#!/bin/sh\nexec " + " ".join(f"'{a}'" for a in [*wrap, str(exe)]) + ' "$@"\n')
            launcher.chmod(0o755)
    how = " under " + Path(wrap[0]).name if wrap else ""
    print(f"artifact-check: {SCENARIO.name} with the unzipped {arch} bootstraps{how} ({shown(bin_dir)})", flush=True)
    r = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "run_scenario.py"), str(SCENARIO), "--bin-dir", str(bin_dir)])
    if r.returncode:
        raise ArtifactError(f"{SCENARIO.name} failed with the packaged {arch} bootstraps (exit {r.returncode})")


def synth(arch: str, zips: Path) -> None:
    """`cdk synth` with the real zips: each function's code must be its zip."""
    cdk = REPO_ROOT / "cdk"
    out = Path(tempfile.mkdtemp(prefix=f"package-check-{arch}-", dir=REPO_ROOT / "target"))
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    env.update(AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_CONFIG_FILE="/dev/null")
    try:
        subprocess.run([str(cdk / "scripts" / "npm-ci.sh")], check=True)
        cmd = [str(cdk / "scripts" / "cdk.sh"), "synth", "--quiet", "-c", f"lambda.architecture={arch}", "-c", f"lambdaZipDir={zips}", "-o", str(out)]
        print(f"artifact-check: cdk synth -c lambda.architecture={arch} -c lambdaZipDir={shown(zips)}", flush=True)
        if subprocess.run(cmd, env=env).returncode:
            raise ArtifactError(f"cdk synth with the {arch} zips failed")
        problems = []
        templates = list(out.glob("*.template.json"))
        if len(templates) != 1:
            raise ArtifactError(f"expected one template in {out}, found {len(templates)}")
        template = json.loads(templates[0].read_text())
        assets = json.loads(templates[0].with_name(templates[0].name.replace(".template.json", ".assets.json")).read_text())["files"]
        functions = {
            r["Properties"].get("Description", "").rsplit(" ", 1)[-1]: r["Properties"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
        }
        expected_arch = "arm64" if arch == "arm64" else "x86_64"
        for fn in FUNCTIONS:
            props = functions.get(fn)
            if props is None:
                problems.append(f"{fn}: no function with that description in the template")
                continue
            if props.get("Architectures") != [expected_arch]:
                problems.append(f"{fn}: Architectures {props.get('Architectures')}, not [{expected_arch}]")
            key = props.get("Code", {}).get("S3Key", "")
            asset = assets.get(key.removesuffix(".zip")) if isinstance(key, str) else None
            if asset is None or asset["source"].get("packaging") != "file":
                problems.append(f"{fn}: Code.S3Key {key!r} is not a file asset of the template")
                continue
            shipped = out / asset["source"]["path"]
            want = hashlib.sha256(zip_path(zips, fn).read_bytes()).hexdigest()
            if hashlib.sha256(shipped.read_bytes()).hexdigest() != want:
                problems.append(f"{fn}: the template's code ({shipped.name}) is not {shown(zip_path(zips, fn))}")
            else:
                print(f"  ok  {fn:<15} Code -> {shipped.name} = {shown(zip_path(zips, fn))}")
        if "PlaceholderCodeIsNotDeployable" in template.get("Rules", {}):
            problems.append("the template carries the placeholder-code rule")
        if problems:
            raise ArtifactError("\n".join(problems))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("arch", choices=sorted(ARCHES))
    parser.add_argument("--zips", type=Path, help="where the <function>/bootstrap.zip are (default target/lambda/ARCH)")
    parser.add_argument("--no-run", action="store_true", help="only the static checks, not the scenario")
    parser.add_argument("--synth", action="store_true", help="also cdk synth with these zips and compare the template's code")
    args = parser.parse_args(argv)
    zips = (args.zips or REPO_ROOT / "target" / "lambda" / args.arch).resolve()
    print(f"artifact-check: {args.arch} zips in {shown(zips)}", flush=True)
    try:
        bootstraps = check_zips(args.arch, zips)
        if not args.no_run:
            run_scenario(args.arch, bootstraps)
        if args.synth:
            synth(args.arch, zips)
    except ArtifactError as exc:
        for line in str(exc).splitlines():
            print(f"artifact-check: FAILED {line}", file=sys.stderr)
        return 1
    print(f"artifact-check: {args.arch} OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
