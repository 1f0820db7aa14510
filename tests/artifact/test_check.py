"""The artifact checker (tests/artifact/check.py) on small ELF and zip fixtures
built here: each check must pass a good artifact and fail a bad one.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
import zipfile
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("artifact_check", Path(__file__).with_name("check.py"))
check = importlib.util.module_from_spec(_spec)
sys.modules["artifact_check"] = check
_spec.loader.exec_module(check)

X86_64_INTERP = "/lib64/ld-linux-x86-64.so.2"
AARCH64_INTERP = "/lib/ld-linux-aarch64.so.1"


def make_elf(machine: int, needs: dict[str, list[str]], interp: str | None = X86_64_INTERP, e_type: int = 3) -> bytes:
    """A minimal 64-bit little-endian ELF: one PT_LOAD over the whole file, PT_INTERP, and a
    PT_DYNAMIC with DT_NEEDED, DT_STRTAB and the version needs (DT_VERNEED) given as
    {library: [version names]}, laid out as a linker does."""
    base = 0x400000
    strtab = bytearray(b"\0")

    def string(s: str) -> int:
        at = len(strtab)
        strtab.extend(s.encode() + b"\0")
        return at

    verneed = bytearray()
    libs = list(needs)
    for i, lib in enumerate(libs):
        versions = needs[lib]
        last_file = i == len(libs) - 1
        verneed += struct.pack("<HHIII", 1, len(versions), string(lib), 16, 0 if last_file else 16 + 16 * len(versions))
        for j, name in enumerate(versions):
            verneed += struct.pack("<IHHII", 0, 0, 0, string(name), 0 if j == len(versions) - 1 else 16)
    needed = [string(lib) for lib in libs]

    phnum = 3 if interp is not None else 2
    head = 64 + 56 * phnum
    interp_off = head
    interp_bytes = (interp or "").encode() + b"\0" if interp is not None else b""
    strtab_off = interp_off + len(interp_bytes)
    verneed_off = strtab_off + len(strtab)
    verneed_off += -verneed_off % 8
    dyn_off = verneed_off + len(verneed)
    dyn_off += -dyn_off % 8
    dyn = b"".join(struct.pack("<qQ", 1, n) for n in needed)
    dyn += struct.pack("<qQ", 5, base + strtab_off) + struct.pack("<qQ", 10, len(strtab))
    if libs:
        dyn += struct.pack("<qQ", 0x6FFFFFFE, base + verneed_off) + struct.pack("<qQ", 0x6FFFFFFF, len(libs))
    dyn += struct.pack("<qQ", 0, 0)
    size = dyn_off + len(dyn)

    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = ident + struct.pack("<HHIQQQIHHHHHH", e_type, machine, 1, base, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    phdrs = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    if interp is not None:
        phdrs += struct.pack("<IIQQQQQQ", 3, 4, interp_off, base + interp_off, base + interp_off, len(interp_bytes), len(interp_bytes), 1)
    phdrs += struct.pack("<IIQQQQQQ", 2, 6, dyn_off, base + dyn_off, base + dyn_off, len(dyn), len(dyn), 8)
    out = bytearray(size)
    out[0:64] = header
    out[64:head] = phdrs
    out[interp_off:strtab_off] = interp_bytes
    out[strtab_off : strtab_off + len(strtab)] = strtab
    out[verneed_off : verneed_off + len(verneed)] = verneed
    out[dyn_off:size] = dyn
    return bytes(out)


GOOD_NEEDS = {"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_2.9"], "libgcc_s.so.1": ["GCC_3.0"], "libm.so.6": ["GLIBC_2.29"]}


def test_reads_machine_interpreter_needed_and_versions():
    info = check.read_elf(make_elf(check.EM_X86_64, GOOD_NEEDS))
    assert info.machine == check.EM_X86_64
    assert info.interpreter == X86_64_INTERP
    assert info.needed == ["libc.so.6", "libgcc_s.so.1", "libm.so.6"]
    assert ("libgcc_s.so.1", "GCC_3.0") in info.version_needs
    # Numeric order: 2.9 < 2.29 < 2.34 (as text, "2.9" would be the highest).
    assert max(info.glibc_versions) == (2, 34)
    assert sorted(info.glibc_versions) == [(2, 2, 5), (2, 9), (2, 29), (2, 34)]


def test_glibc_at_most_234_passes_and_above_fails():
    assert "highest glibc version needed GLIBC_2.34" in check.check_elf(make_elf(check.EM_X86_64, GOOD_NEEDS), "x86_64")
    too_new = make_elf(check.EM_X86_64, {"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.35"], "libm.so.6": ["GLIBC_2.38"]})
    with pytest.raises(check.ArtifactError, match=r"needs glibc 2\.38 \(GLIBC_2\.35, GLIBC_2\.38\); the Lambda OS \(provided\.al2023\) has 2\.34"):
        check.check_elf(too_new, "x86_64")


def test_glibc_private_fails():
    with pytest.raises(check.ArtifactError, match="GLIBC_PRIVATE"):
        check.check_elf(make_elf(check.EM_X86_64, {"libc.so.6": ["GLIBC_2.17", "GLIBC_PRIVATE"]}), "x86_64")


def test_machine_must_match_the_architecture():
    arm = make_elf(check.EM_AARCH64, {"libc.so.6": ["GLIBC_2.17"]}, interp=AARCH64_INTERP)
    assert check.check_elf(arm, "arm64").startswith("arm64 (aarch64)")
    with pytest.raises(check.ArtifactError, match=r"ELF machine is arm64 \(aarch64\), not x86_64"):
        check.check_elf(arm, "x86_64")
    with pytest.raises(check.ArtifactError, match="ELF machine is x86_64, not arm64"):
        check.check_elf(make_elf(check.EM_X86_64, GOOD_NEEDS), "arm64")


def test_interpreter_must_be_glibcs_loader():
    musl = make_elf(check.EM_X86_64, {"libc.so.6": ["GLIBC_2.17"]}, interp="/lib/ld-musl-x86_64.so.1")
    with pytest.raises(check.ArtifactError, match="program interpreter is /lib/ld-musl-x86_64.so.1"):
        check.check_elf(musl, "x86_64")


def test_static_executable_needs_no_glibc():
    assert "highest glibc version needed none" in check.check_elf(make_elf(check.EM_X86_64, {}, interp=None), "x86_64")


def test_not_an_executable_elf():
    with pytest.raises(check.ArtifactError, match="not an ELF file"):
        check.read_elf(b"#!/bin/sh\nexit 1\n" + bytes(64))
    with pytest.raises(check.ArtifactError, match="not an executable"):
        check.read_elf(make_elf(check.EM_X86_64, GOOD_NEEDS, e_type=1))
    with pytest.raises(check.ArtifactError, match="not a 64-bit little-endian ELF"):
        check.read_elf(b"\x7fELF" + bytes([1, 1, 1]) + bytes(57))


def write_zip(path: Path, entries: dict[str, tuple[bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (data, mode) in entries.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.create_system = 3
            z.writestr(info, data)
    return path


def test_zip_must_hold_one_executable_bootstrap(tmp_path):
    exe = make_elf(check.EM_X86_64, GOOD_NEEDS)
    assert check.read_zip(write_zip(tmp_path / "ok.zip", {"bootstrap": (exe, 0o100755)})) == exe
    with pytest.raises(check.ArtifactError, match="not exactly one entry named bootstrap"):
        check.read_zip(write_zip(tmp_path / "two.zip", {"bootstrap": (exe, 0o100755), "extra": (b"x", 0o100644)}))
    with pytest.raises(check.ArtifactError, match="not exactly one entry named bootstrap"):
        check.read_zip(write_zip(tmp_path / "named.zip", {"rds_check": (exe, 0o100755)}))
    with pytest.raises(check.ArtifactError, match="not an executable regular file"):
        check.read_zip(write_zip(tmp_path / "noexec.zip", {"bootstrap": (exe, 0o100644)}))
    with pytest.raises(check.ArtifactError, match="does not exist"):
        check.read_zip(tmp_path / "missing.zip")
    (tmp_path / "bad.zip").write_bytes(exe)
    with pytest.raises(check.ArtifactError, match="not a zip file"):
        check.read_zip(tmp_path / "bad.zip")


def test_check_zips_reports_every_bad_function(tmp_path):
    good = make_elf(check.EM_X86_64, GOOD_NEEDS)
    for fn in check.FUNCTIONS:
        (tmp_path / fn).mkdir()
        data = make_elf(check.EM_AARCH64, GOOD_NEEDS, interp=AARCH64_INTERP) if fn == "rds_stop" else good
        write_zip(tmp_path / fn / "bootstrap.zip", {"bootstrap": (data, 0o100755)})
    (tmp_path / "ssm_launch" / "bootstrap.zip").unlink()
    with pytest.raises(check.ArtifactError) as err:
        check.check_zips("x86_64", tmp_path)
    lines = str(err.value).splitlines()
    assert len(lines) == 2
    assert "ssm_launch/bootstrap.zip: " in lines[0] and "does not exist" in lines[0]
    assert "rds_stop/bootstrap.zip: ELF machine is arm64 (aarch64), not x86_64" in lines[1]
    (tmp_path / "rds_stop" / "bootstrap.zip").unlink()
    for fn in ("ssm_launch", "rds_stop"):
        write_zip(tmp_path / fn / "bootstrap.zip", {"bootstrap": (good, 0o100755)})
    assert set(check.check_zips("x86_64", tmp_path)) == set(check.FUNCTIONS)
    (tmp_path / "bench_echo").mkdir()
    write_zip(tmp_path / "bench_echo" / "bootstrap.zip", {"bootstrap": (good, 0o100755)})
    with pytest.raises(check.ArtifactError, match="holds bench_echo besides the six functions"):
        check.check_zips("x86_64", tmp_path)
