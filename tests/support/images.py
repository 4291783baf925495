"""A tiny test image built with no registry: Debian's static busybox, imported as a root filesystem.

`busybox_rootfs_tar()` packs /bin/busybox (package busybox-static) with a symlink per applet
(`busybox --list`), the directories containers expect and a minimal /etc/passwd, and
`ensure_test_image()` imports it as TEST_IMAGE through the runtime's `import_image` (the Engine
API's `docker import`). Idempotent: an image already present is used as is. Nothing is pulled.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path

from stowage.runtime.base import ContainerRuntime

TEST_IMAGE = "stowage-test/busybox:latest"
TEST_PAUSE_IMAGE = "stowage-test/pause:1"
# Every image, container and network the tests create carries this label, so cleanup is sure.
TEST_LABEL = "stowage-test"
BUSYBOX = "/bin/busybox"

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def _busybox_path() -> Path:
    found = Path(BUSYBOX) if Path(BUSYBOX).exists() else None
    if found is None and (which := shutil.which("busybox")):
        found = Path(which)
    if found is None:
        raise RuntimeError("busybox is not installed: `apt-get install busybox-static` (tests need it)")
    # A dynamically linked busybox would not run in an empty root filesystem.
    if _has_interpreter(found.read_bytes()):
        raise RuntimeError(f"{found} is dynamically linked: install busybox-static")
    return found


def _has_interpreter(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF has a PT_INTERP segment (needs a dynamic loader)."""
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    return any(struct.unpack_from("<I", elf, phoff + i * phentsize)[0] == 3 for i in range(phnum))


def busybox_rootfs_tar() -> bytes:
    busybox = _busybox_path()
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700), ("www", 0o755)):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        tar.add(str(busybox), arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP), ("www/index.html", "stowage\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def ensure_test_image(
    runtime: ContainerRuntime, ref: str = TEST_IMAGE, *, labels: Mapping[str, str] | None = None
) -> tuple[str, bool]:
    """(image id, whether this call created it)."""
    image_id = await runtime.inspect_image(ref)
    if image_id is not None:
        return image_id, False
    image_id = await runtime.import_image(
        ref, busybox_rootfs_tar(), cmd=("sh",), labels=labels or {TEST_LABEL: "1"}
    )
    return image_id, True
