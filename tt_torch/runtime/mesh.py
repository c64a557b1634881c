"""Meshes of emulated chips, as tt-torch's ``DeviceManager`` hands them out.

tt-torch's users open a parent mesh (``DeviceManager.create_parent_mesh_device``),
carve sub-meshes out of it (``create_sub_mesh_device``) and pass those in
``BackendOptions(devices=[...])``. Here a :class:`MeshDevice` is such a mesh over
the emulated system: it knows its shape, its offset in its parent and the chips'
architecture and the system's chip ids it holds (``chip_ids``, row-major; what the
compiler uses to time copies over the ethernet links between them), and opens the
runtime :class:`~tt_torch.runtime.Device` of its shape the first time a program runs
on it (1x1 Wormhole: ``n150``; 1x2: ``n300``; 2x4: ``t3k``; 4x8: ``galaxy``; 1x1
Blackhole: ``p150``; 2x2: ``p150x4``; 2x4: ``p150x8``). Each runtime device has its
own memory accounting, so a program's memory is checked against its own chip. :func:`runtime_device` turns whatever a user
put in ``BackendOptions.devices`` into the runtime device to run on.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from tt_torch.errors import ConfigError

from . import core
from .core import Device

_ARCH = {
    "n150": "wormhole_b0",
    "n300": "wormhole_b0",
    "t3k": "wormhole_b0",
    "galaxy": "wormhole_b0",
    "p150": "blackhole",
    "p150x4": "blackhole",
    "p150x8": "blackhole",
}


class MeshDevice:
    """A parent mesh or a sub-mesh of emulated chips (tt-torch's ``tt_mlir.Device``).

    Hashable by identity, as tt-torch's devices are: ``DeviceManager`` keeps them
    in dicts and sets. ``system`` is the emulated machine the chips belong to
    (e.g. ``"n300"``); ``parent`` is None for a parent mesh.
    """

    def __init__(
        self,
        system: str,
        mesh_shape: Sequence[int],
        mesh_offset: Sequence[int] = (0, 0),
        parent: MeshDevice | None = None,
        chip_ids: Sequence[int] | None = None,
    ) -> None:
        if system not in _ARCH:
            raise ConfigError(f"unknown emulated system {system!r}; known: {', '.join(_ARCH)}")
        self.system = system
        self.arch = _ARCH[system]
        self.mesh_shape = (int(mesh_shape[0]), int(mesh_shape[1]))
        self.mesh_offset = (int(mesh_offset[0]), int(mesh_offset[1]))
        self.parent = parent
        # the system's chips this mesh holds, row-major in its own shape
        self.chip_ids = tuple(chip_ids) if chip_ids is not None else tuple(range(self.num_devices))
        if len(self.chip_ids) != self.num_devices:
            raise ConfigError(f"a {list(self.mesh_shape)} mesh holds {self.num_devices} chips, got ids {chip_ids}")
        self._lock = threading.Lock()
        self._runtime = None
        self._closed = False

    @property
    def num_devices(self) -> int:
        return self.mesh_shape[0] * self.mesh_shape[1]

    def get_num_devices(self) -> int:
        """Chips in this mesh."""
        return self.num_devices

    @property
    def is_open(self) -> bool:
        return not self._closed

    def runtime_device(self) -> Device:
        """The runtime device programs run on, opened on first use.

        Raises ConfigError when the mesh was released, or when no emulated system has
        this mesh's shape."""
        with self._lock:
            if self._closed:
                raise ConfigError(
                    f"{self!r} was released (DeviceManager.release_sub_mesh_device / release_parent_device); "
                    "acquire a new device from DeviceManager and compile with it"
                )
            if self._runtime is None:
                self._runtime = core.open_mesh_device(self.mesh_shape, self.arch)
            return self._runtime

    def close(self) -> None:
        """Closes the runtime device, if one was opened; later use is an error."""
        with self._lock:
            self._closed = True
            if self._runtime is not None:
                self._runtime.close()
                self._runtime = None

    def __repr__(self) -> str:
        kind = "parent mesh" if self.parent is None else f"sub-mesh at offset {list(self.mesh_offset)}"
        state = "" if self.is_open else ", released"
        return f"<MeshDevice {self.system} {kind} of shape {list(self.mesh_shape)}, chips {list(self.chip_ids)}{state}>"


def runtime_device(obj: object) -> Device | None:
    """The runtime device for an entry of ``BackendOptions.devices``.

    None stays None (the executor opens a device of the compile target); a
    :class:`MeshDevice` from ``DeviceManager`` gives its runtime device; a runtime
    :class:`~tt_torch.runtime.Device` is used as it is. Anything else is a ConfigError
    that says what is accepted.
    """
    if obj is None or isinstance(obj, Device):
        return obj
    if isinstance(obj, MeshDevice):
        return obj.runtime_device()
    raise ConfigError(
        f"BackendOptions.devices holds a {type(obj).__name__}; expected devices from "
        "tt_torch.tools.device_manager.DeviceManager (parent or sub-meshes), runtime devices "
        "(tt_torch.runtime.open_device) or None"
    )
