"""Getting pretrained weights onto this machine: through timm's and torchvision's own loaders (the Hugging
Face hub client and torch hub) into their standard caches, checked, or a clear offline error.

The order, for ``weights="imagenet"``: the embedded packages, then the local caches without
touching the network, then a download (unless offline), then one error that names every place
searched. Offline means ``HYBRIDTL_OFFLINE=1``, ``HF_HUB_OFFLINE=1``, or no answer from the
server: a connection is tried once, with a short timeout, before any download.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import torch

__all__ = ["OFFLINE_VARIABLES", "download_hf", "download_url", "file_sha256", "offline_reason", "unreachable",
           "verify_hf_file"]

# Variables that switch downloads off, hybridtl's own first
OFFLINE_VARIABLES = ("HYBRIDTL_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = ("1", "true", "yes", "on")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# path -> ((size, mtime), sha256): a weights file is hashed once per process
_HASHES = {}


def offline_reason():
    """``"NAME=value"`` of the first variable that switches downloads off, or None.

    Examples
    --------
    >>> import os
    >>> os.environ["HYBRIDTL_OFFLINE"] = "1"
    >>> offline_reason()
    'HYBRIDTL_OFFLINE=1'
    >>> del os.environ["HYBRIDTL_OFFLINE"]
    """
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in _TRUE:
            return f"{name}={os.environ[name]}"
    return None


def unreachable(url, timeout=5.0):
    """Why the server of ``url`` cannot be reached (one short attempt), or None when it answers.

    Tried before a download, so that a machine without a network gets its error at once rather
    than after the clients' retries.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"no network: {parts.hostname}:{port} did not answer ({type(exc).__name__}: {exc})"


def file_sha256(path):
    """The sha256 of a file, computed once per process for each (path, size, mtime).

    Examples
    --------
    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/w.bin"
    >>> _ = open(path, "wb").write(b"weights")
    >>> file_sha256(path)[:12]
    '9a129038d9a0'
    """
    stat = os.stat(path)
    stamp = (stat.st_size, stat.st_mtime_ns)
    known = _HASHES.get(str(path))
    if known is None or known[0] != stamp:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        known = _HASHES[str(path)] = (stamp, digest.hexdigest())
    return known[1]


def verify_hf_file(path):
    """Refuse a Hugging Face cache file whose content is not what the hub announced.

    The hub names a large file's blob by the sha256 of its content (its ETag); the client does not
    check it, so a file altered in transit or on disk would load as weights. A mismatching file is
    removed from the cache, so that the next run downloads it again.
    """
    blob = Path(os.path.realpath(path))
    if _SHA256.fullmatch(blob.name) and file_sha256(blob) != blob.name:
        blob.unlink(missing_ok=True)
        raise ValueError(f"the downloaded file does not match its sha256 {blob.name} (altered or incomplete); "
                         f"it was removed from the cache ({path}): run again to download it anew")
    return str(path)


def download_hf(repo_id):
    """A timm model's weights file from the Hugging Face hub into its cache (``HF_HOME``), checked.

    Tries ``model.safetensors``, then ``pytorch_model.bin``, as timm's own loader does.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    for filename in ("model.safetensors", "pytorch_model.bin"):
        try:
            return verify_hf_file(hf_hub_download(repo_id, filename))
        except EntryNotFoundError:
            continue
    raise ValueError(f"the Hugging Face repository {repo_id!r} has no model.safetensors or pytorch_model.bin")


def download_url(url):
    """A file from ``url`` into the torch hub cache (``TORCH_HOME``), with a progress bar.

    torch hub checks the sha256 prefix that the file's name carries (``resnet18-f37072fd.pth``);
    a file already there is used as it is.
    """
    target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlsplit(url).path)
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        match = torch.hub.HASH_REGEX.search(target.name)
        torch.hub.download_url_to_file(url, str(target), match.group(1) if match else None, progress=True)
    return str(target)
