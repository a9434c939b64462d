"""Debian bookworm roots for armhf and arm64, run under qemu-user: Raspberry Pi OS approximations.

Raspberry Pi OS (bookworm) is Debian bookworm for armhf (32-bit) or arm64 with the Pi's
kernel and firmware, so a Debian root of that architecture holds the Python, numpy and
Pillow a Pi user gets. Each root gets exactly what a user installs there:

    apt: python3 python3-venv python3-pip python3-numpy python3-pil ca-certificates
         (numpy 1.24, Pillow 9.4; PyPI has no armv7l wheels of either)
    armhf: python3 -m venv --system-site-packages, then pip install tflite-runtime==2.14.0
           (ai-edge-litert has no 32-bit ARM wheel)
    arm64: the same venv, then pip install ai-edge-litert (which brings a numpy 2 wheel
           into the venv, shadowing Debian's)

Programs run as on a Raspberry Pi 4: /proc/cpuinfo shows a Pi 4's cores, and on arm64
qemu emulates its Cortex-A72 (QEMU_CPU), so LiteRT picks the kernels it would pick there.

Roots are built with debootstrap and configured under qemu through binfmt_misc
(chroot), once: they are cached, and a root is used only once the marker written
after its last build step says what it holds, so an interrupted build is started
again rather than trusted. Used by check_edge_arm.py; needs root and
apt-get install -y debootstrap qemu-user-static binfmt-support.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

SUITE = "bookworm"  # Raspberry Pi OS 12 is built on Debian 12
MIRROR = "http://deb.debian.org/debian"
APT_PACKAGES = ("python3", "python3-venv", "python3-pip", "python3-numpy", "python3-pil", "ca-certificates")
RECIPE_VERSION = 1  # bump when the way a root is built changes: cached roots are rebuilt
DEFAULT_ROOTS = Path.home() / ".cache" / "mnist-keras-arm"
VENV = "/opt/edge-venv"  # inside the root: the user's venv, seeing Debian's numpy and Pillow
MARKER = ".mnist-keras-arm.json"  # in a finished root: its recipe and versions
CA_BUNDLE = "/etc/ssl/certs/host-ca-bundle.crt"  # inside the root: the host's trust for pip
CPUINFO = "/etc/mnist-keras-arm/cpuinfo"  # inside the root: shown as /proc/cpuinfo (see in_root)
BINFMT = Path("/proc/sys/fs/binfmt_misc")
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSED_ENV = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "PIP_INDEX_URL")

# What the probe prints, run by the same Python as the edge program: the versions a note can cite.
PROBE = r"""
import json, os, platform, struct, sys
from importlib import metadata
info = {"python": platform.python_version(), "machine": platform.machine(), "bits": 8 * struct.calcsize("P")}
try:
    info["os"] = "Debian " + open("/etc/debian_version").read().strip()
except OSError:
    info["os"] = platform.platform()
def origin(module):
    path = os.path.dirname(module.__file__)
    return "apt" if path.startswith("/usr/lib/python3/dist-packages") else "pip"
try:
    import numpy
    info["numpy"] = f"{numpy.__version__} ({origin(numpy)})"
    info["intp"] = numpy.dtype(numpy.intp).name
    import PIL
    info["Pillow"] = f"{PIL.__version__} ({origin(PIL)})"
except ImportError as err:
    info["missing"] = str(err)
for dist, module in (("ai-edge-litert", "ai_edge_litert.interpreter"), ("tflite-runtime", "tflite_runtime.interpreter"),
                     ("tensorflow", "tensorflow.lite")):
    try:
        __import__(module)
    except ImportError:
        continue
    info["interpreter"] = f"{dist} {metadata.version(dist)}"
    break
print(json.dumps(info))
"""


class SetupError(RuntimeError):
    """The check could not run: a missing tool, no binfmt_misc, a failed root build."""


# One core of a Raspberry Pi 4 (Cortex-A72) in /proc/cpuinfo, as its 32-bit and 64-bit kernels show it.
PI4_CORE_32 = """model name\t: ARMv7 Processor rev 3 (v7l)
BogoMIPS\t: 108.00
Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32
CPU implementer\t: 0x41
CPU architecture: 7
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3
"""
PI4_CORE_64 = """BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3
"""
PI4_BOARD = "Revision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"


@dataclasses.dataclass(frozen=True)
class Target:
    """One Raspberry Pi OS approximation: a Debian architecture and what a user pip-installs there."""

    arch: str  # Debian's name: armhf, arm64
    qemu: str  # qemu-user's name: qemu-arm, qemu-aarch64 (also the binfmt_misc entry)
    pip: tuple[str, ...]  # on top of Debian's python3-numpy and python3-pil
    core: str  # one processor's lines of a Pi's /proc/cpuinfo
    cpu: str | None = None  # QEMU_CPU: the instruction set a Pi has (None: qemu's default)

    def cpuinfo(self, processors: int) -> str:
        """A Pi 4's /proc/cpuinfo with as many processors as the host has (/sys shows the host's)."""
        cores = "\n".join(f"processor\t: {i}\n{self.core}" for i in range(processors))
        return f"{cores}\n{PI4_BOARD}"

    def recipe(self) -> dict:
        """Everything that decides a root's contents: a cached root with another recipe is rebuilt."""
        return {
            "version": RECIPE_VERSION,
            "suite": SUITE,
            "arch": self.arch,
            "apt": list(APT_PACKAGES),
            "pip": list(self.pip),
        }


TARGETS = {
    # tflite-runtime 2.14 is the last with a cp311 armv7l wheel; qemu-arm has no Cortex-A72, its default is ARMv8-like
    "armhf": Target("armhf", "qemu-arm", ("tflite-runtime==2.14.0",), PI4_CORE_32),
    "arm64": Target("arm64", "qemu-aarch64", ("ai-edge-litert",), PI4_CORE_64, cpu="cortex-a72"),
}


# ------------------------------------------------------------------ commands


def run_command(
    argv: Sequence[str], *, env: dict | None = None, timeout: float | None = None, log: Path | None = None
) -> subprocess.CompletedProcess:
    """Run argv; stdout and stderr come back as text, or are appended to `log` (the long root builds)."""
    try:
        if log is None:
            return subprocess.run(list(argv), env=env, timeout=timeout, text=True, check=False, capture_output=True)
        with open(log, "a") as out:
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            return subprocess.run(list(argv), env=env, timeout=timeout, check=False, stdout=out, stderr=out)
    except FileNotFoundError as err:
        raise SetupError(
            f"{argv[0]} is not installed: apt-get install -y debootstrap qemu-user-static binfmt-support"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise SetupError(f"{' '.join(argv[:4])} ... ran past {timeout:.0f} s") from err


def checked(argv: Sequence[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    """run_command that raises SetupError (with the output's or the log's tail) when the command fails."""
    done = run_command(argv, **kwargs)
    if done.returncode != 0:
        log = kwargs.get("log")
        output = log.read_text(errors="replace") if log else (done.stdout or "") + (done.stderr or "")
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {done.returncode}){f'; log: {log}' if log else ''}\n{tail}")
    return done


def in_namespace(argv: Sequence[str]) -> list[str]:
    """argv in a private mount namespace: whatever it mounts (/proc in a root) is gone when it exits,
    even when killed, so no mount is left behind to trip a later rm -rf of the root."""
    return ["unshare", "--mount", "--propagation", "private", "--", *argv]


def chroot_env(target: Target) -> dict:
    """A plain environment for commands in the root (the host's PATH and venv mean nothing there),
    with QEMU_CPU, which qemu reads through binfmt_misc too."""
    env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    if target.cpu:
        env["QEMU_CPU"] = target.cpu
    return env


def in_root(root: Path, argv: Sequence[str]) -> list[str]:
    """argv run inside `root` under qemu (binfmt_misc), with /proc, /sys and /dev mounted for it only.

    /proc/cpuinfo shows a Pi's (CPUINFO) where the root has one: qemu-user 7.2 shows ARM
    programs the x86 host's, and LiteRT's CPU detection then crashed (SIGSEGV) on arm64.
    """
    mounts = (
        'mount -t proc proc "$0/proc" && mount -t sysfs sysfs "$0/sys" && mount --rbind /dev "$0/dev" '
        f'&& {{ ! [ -f "$0{CPUINFO}" ] || mount --bind "$0{CPUINFO}" "$0/proc/cpuinfo"; }} && exec chroot "$0" "$@"'
    )
    return in_namespace(["sh", "-c", mounts, str(root), *argv])


def venv_python(root: Path) -> list[str]:
    """The command that runs the user's venv Python in `root`."""
    return in_root(root, [f"{VENV}/bin/python"])


def probe(python: Sequence[str], *, env: dict | None = None) -> dict:
    """Versions of Python, numpy, Pillow and the interpreter that `python` (a command) imports."""
    done = checked([*python, "-c", PROBE], "probing versions", env=env, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def qemu_version(target: Target) -> str:
    """qemu-user's version line, for the report."""
    done = run_command([f"{target.qemu}-static", "--version"])
    return (done.stdout.splitlines() or ["?"])[0]


# ------------------------------------------------------------------ binfmt


def binfmt_entry(target: Target) -> dict[str, str]:
    """The kernel's binfmt_misc registration of target.qemu as {key: value}, {} when absent."""
    path = BINFMT / target.qemu
    if not path.is_file():
        return {}
    lines = path.read_text().splitlines()  # enabled / interpreter PATH / flags: PF / offset 0 / magic ...
    entry = {key.rstrip(":"): value.strip() for key, value in (line.split(" ", 1) for line in lines if " " in line)}
    entry["enabled"] = str(lines[:1] == ["enabled"])
    return entry


def ensure_binfmt(target: Target) -> dict[str, str]:
    """Make the kernel run target binaries through qemu: mount binfmt_misc and enable the entry if needed.

    Debian's qemu-user-static registers its entries only when binfmt_misc is mounted
    when it is installed; without systemd (containers, VMs started bare) it often is not.
    """
    if not (BINFMT / "status").exists():
        run_command(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
    if binfmt_entry(target).get("enabled") != "True":
        run_command(["update-binfmts", "--enable", target.qemu])
    entry = binfmt_entry(target)
    if entry.get("enabled") != "True":
        raise SetupError(
            f"the kernel cannot run {target.arch} programs: no enabled binfmt_misc entry {BINFMT / target.qemu}; "
            "apt-get install -y qemu-user-static binfmt-support, and in a container mount binfmt_misc "
            "(or register qemu on the host with the F flag)"
        )
    return entry


def provide_interpreter(root: Path, entry: dict[str, str]) -> None:
    """Without binfmt_misc's F flag the kernel opens the qemu binary inside the chroot: put it there."""
    if "F" in entry.get("flags", ""):
        return  # the kernel opened the interpreter when it was registered
    inside = root / entry["interpreter"].lstrip("/")
    inside.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.realpath(entry["interpreter"]), inside)


# ------------------------------------------------------------------ roots


def mounted_below(path: Path) -> list[str]:
    """Mount points at or below `path` (in this namespace): never delete a tree that has any."""
    prefix = str(path.resolve())
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def remove_tree(path: Path) -> None:
    """rm -rf `path`, refusing when something is mounted inside (a bind-mounted /dev would be emptied)."""
    if not path.exists() and not path.is_symlink():
        return
    busy = mounted_below(path)
    if busy:
        raise SetupError(f"not deleting {path}: {', '.join(busy)} mounted inside; unmount first (umount -R)")
    shutil.rmtree(path)


def read_marker(root: Path) -> dict:
    """The finished root's marker ({} when there is none: unfinished or not ours)."""
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def write_file(root: Path, inside: str, data: bytes) -> Path:
    """Write `data` at `inside` in the root, replacing a symlink rather than writing through it to the host."""
    path = root / inside.lstrip("/")
    if path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def host_ca_bundle() -> Path | None:
    """The CA bundle the host's pip trusts (a proxy's own CA may be in it), to give pip in the root."""
    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if os.environ.get(name) and Path(os.environ[name]).is_file():
            return Path(os.environ[name])
    default = Path("/etc/ssl/certs/ca-certificates.crt")
    return default if default.is_file() else None


def debootstrap(target: Target, root: Path, debs: Path, entry: dict[str, str], log: Path) -> None:
    """Debian bookworm with APT_PACKAGES in `root`: download and unpack, then configure under qemu.

    Two stages (--foreign, then --second-stage in the root) so the interpreter can be put in
    between when binfmt_misc lacks the F flag; downloaded .debs stay in `debs` for rebuilds.
    """
    debs.mkdir(parents=True, exist_ok=True)
    first = ["debootstrap", "--foreign", f"--arch={target.arch}", "--variant=minbase"]
    first += [f"--include={','.join(APT_PACKAGES)}", f"--cache-dir={debs}", SUITE, str(root), MIRROR]
    checked(in_namespace(first), f"debootstrap {target.arch} (first stage)", log=log)
    provide_interpreter(root, entry)
    second = in_namespace(["chroot", str(root), "/debootstrap/debootstrap", "--second-stage"])
    checked(second, f"debootstrap {target.arch} (second stage, under {target.qemu})", env=chroot_env(target), log=log)


def refresh_files(target: Target, root: Path) -> None:
    """The host's name servers (for pip) and a Pi's /proc/cpuinfo, written at every use of the root."""
    write_file(root, "/etc/resolv.conf", Path("/etc/resolv.conf").read_bytes())
    write_file(root, CPUINFO, target.cpuinfo(os.cpu_count() or 1).encode())


def pip_install(target: Target, root: Path, log: Path) -> None:
    """What the user runs next on Raspberry Pi OS: a venv that sees Debian's numpy and Pillow, then pip."""
    cert = []
    bundle = host_ca_bundle()
    if bundle is not None:
        write_file(root, CA_BUNDLE, bundle.read_bytes())
        cert = ["--cert", CA_BUNDLE]
    venv = in_root(root, ["python3", "-m", "venv", "--system-site-packages", VENV])
    checked(venv, "python3 -m venv", env=chroot_env(target), log=log)
    pip = in_root(root, [f"{VENV}/bin/pip", "install", *cert, *target.pip])
    checked(pip, f"pip install {' '.join(target.pip)}", env=chroot_env(target), log=log)


@contextmanager
def locked(roots: Path, arch: str) -> Iterator[None]:
    """One build or run per architecture at a time: two checks must not build one root together."""
    roots.mkdir(parents=True, exist_ok=True)
    with open(roots / f".{arch}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_root(target: Target, roots: Path, entry: dict[str, str], *, rebuild: bool) -> tuple[Path, str]:
    """The finished root for `target` in `roots`, built now if missing, unfinished or of another recipe.

    It is built as NAME.partial and renamed only after its marker is written, so a root
    at NAME is always complete. Returns (root, "reused" | "built").
    """
    root = roots / f"{SUITE}-{target.arch}"
    marker = read_marker(root)
    if not rebuild and marker.get("recipe") == target.recipe():
        provide_interpreter(root, entry)
        refresh_files(target, root)
        return root, "reused"
    partial = roots / f"{SUITE}-{target.arch}.partial"
    remove_tree(partial)  # a build that was interrupted: start again
    log = roots / f"build-{target.arch}.log"
    log.write_text("")
    print(f"{target.arch}: building a Debian {SUITE} root in {partial} (minutes under qemu; log {log}) ...", flush=True)
    debootstrap(target, partial, roots / f"debs-{target.arch}", entry, log)
    refresh_files(target, partial)
    pip_install(target, partial, log)
    versions = probe(venv_python(partial), env=chroot_env(target))
    marker = {"recipe": target.recipe(), "versions": versions, "built": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_file(partial, MARKER, json.dumps(marker, indent=1).encode())
    remove_tree(root)
    partial.rename(root)
    return root, "built"
