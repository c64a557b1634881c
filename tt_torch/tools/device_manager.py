"""tt-torch's DeviceManager, over the emulated system.

Code written for tt-torch acquires devices through these class methods, with
tt-torch's signatures and bookkeeping, and passes the sub-meshes in
``BackendOptions(devices=[...])``::

    parent, devices = DeviceManager.acquire_available_devices()
    options.devices = [devices[0]]
    ...
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)

The "hardware" is the emulated system named by ``DeviceManager.system`` (default:
``$TT_TORCH_SYSTEM``, else ``"n300"``, a 1x2 mesh of Wormhole chips): one of the
targets of :mod:`tt_torch.compiler.target.system_desc` (n150, n300, t3k 2x4, galaxy
4x8, p150, p150x4 2x2, p150x8 2x4). Devices are :class:`~tt_torch.runtime.mesh.MeshDevice`
objects; each opens its runtime device the first time a program runs on it.

A parent mesh takes chips of the system: the first free rectangle of its shape
(row-major scan), or, for a line (``[1, n]`` or ``[n, 1]``) that fits no rectangle,
n free chips along the system's snake order (row 0 left to right, row 1 right to left,
...), so that neighbours in the line are neighbours on the mesh, as tt-metal lays a
line over a T3K. Its sub-meshes take the parent's chips at their offset.

As in tt-torch, a parent mesh is not released while sub-meshes live unless
``cleanup_sub_devices=True``, and sub-meshes of a parent cannot hold more chips
than it has. Failed checks raise :class:`DeviceManagerError`, an ``AssertionError``
(what tt-torch raises) that is also a tt-torch ``ConfigError``, with tt-torch's
message followed by what was asked, what is held and what to do.
"""

from __future__ import annotations

import threading
from collections.abc import KeysView, Sequence

from tt_torch import env
from tt_torch.compiler.target import system_desc
from tt_torch.errors import ConfigError
from tt_torch.runtime.mesh import MeshDevice


class DeviceManagerError(ConfigError, AssertionError):
    """A DeviceManager check failed (tt-torch raises AssertionError for these)."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DeviceManagerError(message)


class DeviceManager:
    """Acquires and releases meshes of emulated chips (tt-torch's names, signatures, bookkeeping)."""

    # The emulated machine; set it while no device is held.
    system: str = env.SYSTEM.get()

    # Each parent mesh and its live sub-meshes, and every mesh's shape (tt-torch's names).
    _devices: dict[MeshDevice, set[MeshDevice]] = {}
    _parent_shapes: dict[MeshDevice, tuple[int, int]] = {}
    _submesh_shapes: dict[MeshDevice, tuple[int, int]] = {}

    _lock = threading.RLock()

    @classmethod
    def system_desc(cls) -> system_desc.SystemDesc:
        """The emulated system's description: chips, mesh shape, links."""
        if cls.system not in system_desc.SYSTEMS:
            raise ConfigError(
                f"DeviceManager.system is {cls.system!r}; the emulated systems are {', '.join(system_desc.SYSTEMS)} "
                "(set DeviceManager.system or $TT_TORCH_SYSTEM)"
            )
        return system_desc.SYSTEMS[cls.system]

    @classmethod
    def _num_chips(cls) -> int:
        return cls.system_desc().num_chips

    @classmethod
    def _place(cls, shape: tuple[int, int]) -> list[int] | None:
        """System chip ids for a new parent mesh of ``shape`` (row-major in it), or None."""
        desc = cls.system_desc()
        rows, cols = desc.mesh_shape
        held = {c for parent in cls._devices for c in parent.chip_ids}
        for r0 in range(rows - shape[0] + 1):
            for c0 in range(cols - shape[1] + 1):
                ids = [(r0 + r) * cols + c0 + c for r in range(shape[0]) for c in range(shape[1])]
                if not held.intersection(ids):
                    return ids
        if min(shape) == 1:
            snake = [r * cols + (c if r % 2 == 0 else cols - 1 - c) for r in range(rows) for c in range(cols)]
            n = max(shape)
            for start in range(len(snake) - n + 1):
                ids = snake[start : start + n]
                if not held.intersection(ids):
                    return ids
        return None

    @classmethod
    def _held_chips(cls) -> int:
        return sum(shape[0] * shape[1] for shape in cls._parent_shapes.values())

    @classmethod
    def get_num_available_devices(cls) -> int:
        """Chips of the emulated system that no open parent mesh holds."""
        with cls._lock:
            return max(cls._num_chips() - cls._held_chips(), 0)

    @classmethod
    def create_parent_mesh_device(
        cls,
        mesh_shape: Sequence[int] | None = None,
        device_ids: Sequence[int] | None = None,
        num_hw_cqs: int | None = None,
        enable_program_cache: bool | None = None,
        l1_small_size: int | None = None,
        dispatch_core_type: object | None = None,
    ) -> MeshDevice:
        """Opens a parent mesh of ``mesh_shape`` chips, usable directly or to carve sub-meshes from.

        ``device_ids``, ``num_hw_cqs``, ``enable_program_cache``, ``l1_small_size`` and
        ``dispatch_core_type`` configure real hardware; the emulated device has no such
        settings and accepts them unchanged.
        """
        _check(mesh_shape is not None and len(mesh_shape) == 2, "Mesh shape must be a list of two integers.")
        shape = (int(mesh_shape[0]), int(mesh_shape[1]))
        _check(
            min(shape) >= 1, f"Mesh shape must be a list of two integers. Got {list(mesh_shape)}: both must be >= 1."
        )
        with cls._lock:
            available = cls.get_num_available_devices()
            _check(
                shape[0] * shape[1] <= available,
                f"Mesh shape exceeds available devices. {list(shape)} needs {shape[0] * shape[1]} chip(s); the "
                f"emulated {cls.system} has {cls._num_chips()}, {cls._held_chips()} held by open parent meshes. "
                "Release them (DeviceManager.release_parent_device) or set DeviceManager.system to a larger system.",
            )
            chip_ids = cls._place(shape)
            _check(
                chip_ids is not None,
                f"Mesh shape exceeds available devices. {list(shape)} does not fit the free chips of the emulated "
                f"{cls.system} ({list(cls.system_desc().mesh_shape)} mesh, {cls._held_chips()} chips held). Release "
                "a parent mesh or ask for a shape that fits.",
            )
            parent = MeshDevice(cls.system, shape, chip_ids=chip_ids)
            cls._devices[parent] = set()
            cls._parent_shapes[parent] = shape
            return parent

    @classmethod
    def get_parent_devices(cls) -> KeysView[MeshDevice]:
        """The parent meshes currently acquired."""
        return cls._devices.keys()

    @classmethod
    def release_parent_device(cls, parent_device: MeshDevice, cleanup_sub_devices: bool = False) -> None:
        """Releases a parent mesh that has no live sub-meshes; with ``cleanup_sub_devices``
        its sub-meshes are released first."""
        with cls._lock:
            _check(
                parent_device in cls._devices,
                f"Parent Device not found. {parent_device!r} was not acquired from DeviceManager "
                "or is already released.",
            )
            sub_devices = cls._devices[parent_device]
            _check(
                len(sub_devices) == 0 or cleanup_sub_devices,
                f"Sub devices still exist under this parent mesh. {len(sub_devices)} live sub-mesh(es); release "
                "them (DeviceManager.release_sub_mesh_device) or pass cleanup_sub_devices=True.",
            )
            for sub_device in list(sub_devices):
                cls.release_sub_mesh_device(sub_device, parent=parent_device)
            cls._close_parent(parent_device)

    @classmethod
    def _close_parent(cls, parent: MeshDevice) -> None:
        """Closes a parent mesh whose sub-meshes are gone and forgets it."""
        parent.close()
        del cls._devices[parent]
        del cls._parent_shapes[parent]

    @classmethod
    def create_sub_mesh_device(
        cls,
        parent_mesh: MeshDevice,
        mesh_offset: Sequence[int],
        mesh_shape: Sequence[int] = (1, 1),
    ) -> MeshDevice:
        """Carves a sub-mesh of ``mesh_shape`` chips at ``mesh_offset`` out of ``parent_mesh``."""
        with cls._lock:
            _check(
                parent_mesh in cls._devices,
                f"Parent mesh not found. {parent_mesh!r} was not acquired from DeviceManager or is already released.",
            )
            parent_shape = cls._parent_shapes[parent_mesh]
            shape = (int(mesh_shape[0]), int(mesh_shape[1]))
            offset = (int(mesh_offset[0]), int(mesh_offset[1]))
            usage = shape[0] * shape[1] + sum(
                s[0] * s[1] for s in map(cls._submesh_shapes.get, cls._devices[parent_mesh])
            )
            _check(
                usage <= parent_shape[0] * parent_shape[1],
                f"Sub mesh shape is too big. The live sub-meshes and a new {list(shape)} would hold {usage} chips; "
                f"the parent mesh {list(parent_shape)} has {parent_shape[0] * parent_shape[1]}. "
                "Release a sub-mesh first (DeviceManager.release_sub_mesh_device).",
            )
            rows = range(offset[0], offset[0] + shape[0])
            cols = range(offset[1], offset[1] + shape[1])
            _check(
                min(offset) >= 0 and min(shape) >= 1 and rows.stop <= parent_shape[0] and cols.stop <= parent_shape[1],
                f"Sub mesh does not fit the parent mesh: shape {list(shape)} at offset {list(offset)} in a "
                f"{list(parent_shape)} mesh. Pick an offset and shape inside the parent.",
            )
            for other in cls._devices[parent_mesh]:
                (r0, c0), (h, w) = other.mesh_offset, other.mesh_shape
                overlap = r0 < rows.stop and rows.start < r0 + h and c0 < cols.stop and cols.start < c0 + w
                _check(
                    not overlap,
                    f"Sub mesh overlaps a live sub-mesh: {list(shape)} at offset {list(offset)} shares chips with "
                    f"{other!r}. Use another offset or release that sub-mesh first.",
                )
            parent_cols = parent_shape[1]
            chip_ids = [parent_mesh.chip_ids[r * parent_cols + c] for r in rows for c in cols]
            sub_device = MeshDevice(parent_mesh.system, shape, offset, parent=parent_mesh, chip_ids=chip_ids)
            cls._devices[parent_mesh].add(sub_device)
            cls._submesh_shapes[sub_device] = shape
            return sub_device

    @classmethod
    def get_sub_mesh_devices(cls, parent_mesh: MeshDevice) -> set[MeshDevice]:
        """The live sub-meshes of ``parent_mesh`` (a copy: another thread may release one meanwhile)."""
        with cls._lock:
            _check(
                parent_mesh in cls._devices,
                f"Parent mesh not found. {parent_mesh!r} was not acquired from DeviceManager or is already released.",
            )
            return set(cls._devices[parent_mesh])

    @classmethod
    def release_sub_mesh_device(
        cls,
        sub_device: MeshDevice,
        cleanup_parent: bool = False,
        parent: MeshDevice | None = None,
    ) -> None:
        """Releases a sub-mesh; with ``cleanup_parent`` also its parent when no sub-mesh is left.
        ``parent``, when given, must be the sub-mesh's parent; otherwise it is looked up."""
        with cls._lock:
            if parent is not None:
                _check(
                    parent in cls._devices,
                    f"Parent mesh not found in the list of managed devices. {parent!r} was not acquired from "
                    "DeviceManager or is already released.",
                )
                _check(
                    sub_device in cls._devices[parent],
                    f"Sub device not found in the specified parent mesh. {sub_device!r} is not a live sub-mesh "
                    f"of {parent!r}.",
                )
            else:
                parent = next((p for p, subs in cls._devices.items() if sub_device in subs), None)
                _check(
                    parent is not None,
                    f"Sub device not found in any parent mesh. {sub_device!r} was not created by "
                    "DeviceManager.create_sub_mesh_device or is already released.",
                )
            sub_device.close()
            cls._devices[parent].remove(sub_device)
            del cls._submesh_shapes[sub_device]
            if cleanup_parent and len(cls._devices[parent]) == 0:
                cls._close_parent(parent)

    @classmethod
    def acquire_available_devices(
        cls,
        num_devices: int | None = None,
        device_ids: Sequence[int] | None = None,
        num_hw_cqs: int | None = None,
        enable_program_cache: bool | None = None,
        l1_small_size: int | None = None,
        dispatch_core_type: object | None = None,
    ) -> tuple[MeshDevice, list[MeshDevice]]:
        """Opens a 1 x ``num_devices`` parent mesh (all available chips by default) and one
        1x1 sub-mesh per chip; returns ``(parent, [sub_mesh, ...])``, sub-meshes in chip order.
        Run programs on the sub-meshes; release with
        ``release_parent_device(parent, cleanup_sub_devices=True)``."""
        with cls._lock:
            if num_devices is None:
                num_devices = cls.get_num_available_devices()
            parent = cls.create_parent_mesh_device(
                [1, num_devices], device_ids, num_hw_cqs, enable_program_cache, l1_small_size, dispatch_core_type
            )
            subs = [cls.create_sub_mesh_device(parent, (0, i)) for i in range(num_devices)]
            return (parent, subs)
