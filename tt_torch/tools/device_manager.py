"""tt-torch's DeviceManager, over the emulated devices.

Code written for tt-torch acquires devices through these class methods and
passes them in ``BackendOptions(devices=[...])``. Here the "hardware" is the
emulated system chosen by ``target`` (n150: one chip; n300: a 1x2 mesh;
p150: one Blackhole chip). Acquired devices are tracked by the manager so
that releasing twice or releasing a device it did not hand out is an error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tt_torch.errors import ConfigError

_CHIPS = {"n150": 1, "n300": 2, "p150": 1}


@dataclass
class MeshDevice:
    """A mesh of emulated chips; ``devices`` are runtime devices, one per chip."""

    mesh_shape: tuple[int, int]
    target: str
    devices: list = field(default_factory=list)
    parent: MeshDevice | None = None
    offset: tuple[int, int] = (0, 0)
    submeshes: list[MeshDevice] = field(default_factory=list)

    @property
    def num_devices(self) -> int:
        return self.mesh_shape[0] * self.mesh_shape[1]

    def get_num_devices(self) -> int:
        return self.num_devices

    def get_devices(self) -> list:
        return list(self.devices)


class DeviceManager:
    """Acquires and releases emulated devices (tt-torch's names and signatures)."""

    _lock = threading.Lock()
    _in_use: dict[int, MeshDevice] = {}

    @staticmethod
    def get_num_available_devices(target: str = "n150") -> int:
        """Chips of the emulated system ``target`` that are not acquired."""
        total = DeviceManager._chips(target)
        with DeviceManager._lock:
            used = sum(m.num_devices for m in DeviceManager._in_use.values() if m.target == target and m.parent is None)
        return max(total - used, 0)

    @staticmethod
    def create_parent_mesh_device(mesh_shape=(1, 1), target: str | None = None, **_ignored) -> MeshDevice:
        """Opens a mesh of ``mesh_shape`` chips; the default target fits the shape (1x2 -> n300)."""
        shape = DeviceManager._shape(mesh_shape)
        chips = shape[0] * shape[1]
        target = target or ("n150" if chips == 1 else "n300")
        if chips > DeviceManager.get_num_available_devices(target):
            raise ConfigError(
                f"mesh {shape} needs {chips} chips, but the emulated {target} has "
                f"{DeviceManager.get_num_available_devices(target)} free; release devices or use target='n300'"
            )
        from tt_torch import runtime

        mesh = MeshDevice(
            shape, target, [runtime.open_device("n150" if target == "n300" else target) for _ in range(chips)]
        )
        with DeviceManager._lock:
            DeviceManager._in_use[id(mesh)] = mesh
        return mesh

    @staticmethod
    def create_sub_mesh_device(parent_mesh: MeshDevice, mesh_offset=(0, 0), mesh_shape=(1, 1)) -> MeshDevice:
        shape, offset = DeviceManager._shape(mesh_shape), DeviceManager._shape(mesh_offset)
        rows, cols = parent_mesh.mesh_shape
        if offset[0] + shape[0] > rows or offset[1] + shape[1] > cols:
            raise ConfigError(
                f"sub-mesh {shape} at offset {offset} does not fit the parent mesh {parent_mesh.mesh_shape}"
            )
        chips = [
            parent_mesh.devices[r * cols + c]
            for r in range(offset[0], offset[0] + shape[0])
            for c in range(offset[1], offset[1] + shape[1])
        ]
        sub = MeshDevice(shape, parent_mesh.target, chips, parent=parent_mesh, offset=offset)
        parent_mesh.submeshes.append(sub)
        return sub

    @staticmethod
    def acquire_available_devices(num_devices: int | None = None, target: str = "n150", **_ignored) -> list:
        """Opens ``num_devices`` single-chip devices (all free ones by default); returns runtime devices."""
        free = DeviceManager.get_num_available_devices(target)
        num = free if num_devices is None else num_devices
        if num < 1 or num > free:
            raise ConfigError(f"asked for {num} device(s) of the emulated {target}, {free} available")
        mesh = DeviceManager.create_parent_mesh_device((1, num), target=target)
        return mesh.get_devices()

    @staticmethod
    def release_sub_mesh_device(sub_mesh: MeshDevice) -> None:
        if sub_mesh.parent is None or sub_mesh not in sub_mesh.parent.submeshes:
            raise ConfigError("release_sub_mesh_device: this mesh is not a live sub-mesh")
        sub_mesh.parent.submeshes.remove(sub_mesh)

    @staticmethod
    def release_parent_device(parent_mesh: MeshDevice, cleanup_sub_meshes: bool = True) -> None:
        with DeviceManager._lock:
            if DeviceManager._in_use.pop(id(parent_mesh), None) is None:
                raise ConfigError("release_parent_device: this mesh was not acquired or is already released")
        if parent_mesh.submeshes and not cleanup_sub_meshes:
            raise ConfigError("the mesh still has sub-meshes; release them or pass cleanup_sub_meshes=True")
        parent_mesh.submeshes.clear()
        for device in parent_mesh.devices:
            device.close()

    @staticmethod
    def release_devices(devices: list) -> None:
        """Releases devices returned by ``acquire_available_devices``."""
        with DeviceManager._lock:
            owners = [m for m in DeviceManager._in_use.values() if any(d is devices[0] for d in m.devices)]
        if not owners:
            raise ConfigError("release_devices: these devices were not acquired or are already released")
        DeviceManager.release_parent_device(owners[0])

    @staticmethod
    def _chips(target: str) -> int:
        if target not in _CHIPS:
            raise ConfigError(f"unknown target {target!r}; known: {', '.join(_CHIPS)}")
        return _CHIPS[target]

    @staticmethod
    def _shape(value) -> tuple[int, int]:
        shape = tuple(int(v) for v in value)
        if len(shape) != 2 or min(shape) < 0:
            raise ConfigError(f"a mesh shape or offset is two non-negative ints, got {value!r}")
        return shape
