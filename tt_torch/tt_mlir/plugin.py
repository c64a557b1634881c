"""The pinned tt-mlir plugin: its version and the one schema hash its system descriptors need.

tt-mlir ships inside the ``jax-tt-plugin`` wheel (a JAX PJRT plugin). It reports no
version of its own, and on loading a ``.ttsys`` it checks only the descriptor schema's
hash string, so the two facts that must change together live here, side by side.
Install with ``pip install tt-torch[tt-mlir]`` (or ``env/requirements.txt``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util

from tt_torch.errors import TTTorchError

PLUGIN_PACKAGE = "jax-tt-plugin"
PLUGIN_VERSION = "0.1.3"
# sha256 of tt-mlir's system_desc schema inside jax-tt-plugin 0.1.3 (SystemDescRoot.schema_hash).
SYSTEM_DESC_SCHEMA_HASH = "f0b54f1568f8f39c9910f4e652cd40fa551fdb1bf4172fab3710429031c23159"
# What the plugin prints when a .ttsys carries another hash.
SCHEMA_MISMATCH_TEXT = "system desc schema mismatch"


class TTMlirUnavailable(TTTorchError, ImportError):
    """The real tt-mlir (jax-tt-plugin) is not installed, or not the pinned version."""


def installed_version() -> str | None:
    try:
        return importlib.metadata.version(PLUGIN_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def unavailable_reason() -> str | None:
    """None when the pinned plugin and JAX are importable; else what is missing and how to fix it."""
    version = installed_version()
    if version is None or importlib.util.find_spec("jax") is None:
        return (
            f"the real tt-mlir is not installed: pip install '{PLUGIN_PACKAGE}=={PLUGIN_VERSION}' "
            "(or pip install -e '.[tt-mlir]', or source env/activate)"
        )
    if version != PLUGIN_VERSION:
        return (
            f"{PLUGIN_PACKAGE} {version} is installed but tt-torch's system descriptors are written for "
            f"{PLUGIN_VERSION} (schema hash {SYSTEM_DESC_SCHEMA_HASH[:12]}...): "
            f"pip install '{PLUGIN_PACKAGE}=={PLUGIN_VERSION}'"
        )
    return None


def available() -> bool:
    return unavailable_reason() is None


def schema_mismatch_message(ttsys_path: str) -> str:
    return (
        f"tt-mlir refused the system descriptor {ttsys_path}: schema hash mismatch. tt-torch writes descriptors for "
        f"{PLUGIN_PACKAGE}=={PLUGIN_VERSION} (hash {SYSTEM_DESC_SCHEMA_HASH}); installed: {installed_version()}. "
        "Install the pinned version, or update PLUGIN_VERSION and SYSTEM_DESC_SCHEMA_HASH in tt_torch/tt_mlir/plugin.py together."
    )
