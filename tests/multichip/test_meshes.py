"""Mesh targets (system descriptions with ethernet links) and DeviceManager's placement of
parent meshes and sub-meshes on them. No device runs here."""

from __future__ import annotations

import pytest

from tt_torch import runtime
from tt_torch.compiler.target import system_desc
from tt_torch.tools.device_manager import DeviceManager

pytestmark = pytest.mark.usefixtures("devices_released")


@pytest.mark.parametrize(
    ("name", "shape", "arch", "links"),
    [
        ("n150", (1, 1), "wormhole_b0", 0),
        ("n300", (1, 2), "wormhole_b0", 1),
        ("t3k", (2, 4), "wormhole_b0", 10),
        ("galaxy", (4, 8), "wormhole_b0", 52),
        ("p150", (1, 1), "blackhole", 0),
        ("p150x4", (2, 2), "blackhole", 4),
        ("p150x8", (2, 4), "blackhole", 10),
    ],
)
def test_each_system_is_a_mesh_with_a_link_between_neighbours(name, shape, arch, links):
    desc = system_desc.get(name)
    assert desc.mesh_shape == shape and desc.num_chips == shape[0] * shape[1] and desc.chip.arch == arch
    assert len(desc.links) == links  # rows * (cols - 1) + cols * (rows - 1)
    for link in desc.links:
        (r0, c0), (r1, c1) = desc.coords(link.chips[0]), desc.coords(link.chips[1])
        assert abs(r0 - r1) + abs(c0 - c1) == 1
    # the runtime has the same system: its name, arch, mesh and chips
    info = runtime.system_info(name)
    assert tuple(info["mesh_shape"]) == shape
    assert info["num_cores"] == desc.chip.num_cores
    assert info["peak_tflops"]["BFP_BFloat8"] == pytest.approx(desc.chip.lofi_tflops)
    assert runtime.open_mesh_device(shape, arch).name == name


def test_routes_and_copy_times_follow_the_links():
    t3k = system_desc.get("t3k")
    assert t3k.coords(5) == (1, 1) and t3k.chip_id((1, 1)) == 5
    route = t3k.route(0, 7)  # (0, 0) -> (1, 3): three hops along row 0, then one down
    assert [link.chips for link in route] == [(0, 1), (1, 2), (2, 3), (3, 7)]
    assert t3k.route(3, 3) == [] and t3k.transfer_us(1 << 20, 3, 3) == 0.0
    # 1 MiB over one n300/t3k hop: 1 us latency + 8 Mibit at 2 x 100 Gb/s
    assert t3k.transfer_us(1 << 20, 0, 1) == pytest.approx(1.0 + (1 << 20) * 8 / 200e3)
    # four hops: four latencies, the bytes stream at the link rate once
    assert t3k.transfer_us(1 << 20, 0, 7) == pytest.approx(4.0 + (1 << 20) * 8 / 200e3)
    # Blackhole's 400 Gb/s ports: the same copy is 4x faster on the wire
    p8 = system_desc.get("p150x8")
    assert p8.transfer_us(1 << 20, 0, 1) - 1.0 == pytest.approx((t3k.transfer_us(1 << 20, 0, 1) - 1.0) / 4)
    with pytest.raises(ValueError, match="chip 8 is not in t3k"):
        t3k.route(0, 8)


def test_a_mesh_saved_as_json_loads_back_with_its_links(tmp_path):
    path = system_desc.save("galaxy", tmp_path / "galaxy.json")
    assert system_desc.load(path) == system_desc.get("galaxy")
    text = path.read_text().replace('"num_chips": 32', '"num_chips": 31')
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(ValueError, match="num_chips 31 is not the mesh's"):
        system_desc.load(tmp_path / "bad.json")


def test_device_manager_places_parent_meshes_on_free_chips(monkeypatch):
    monkeypatch.setattr(DeviceManager, "system", "t3k")
    assert DeviceManager.get_num_available_devices() == 8
    line = DeviceManager.create_parent_mesh_device([1, 2])
    square = DeviceManager.create_parent_mesh_device([2, 2])
    assert line.chip_ids == (0, 1) and square.chip_ids == (2, 3, 6, 7)
    sub = DeviceManager.create_sub_mesh_device(square, (1, 0))
    assert sub.chip_ids == (6,)
    assert DeviceManager.get_num_available_devices() == 2
    with pytest.raises(AssertionError, match="Mesh shape exceeds available devices"):
        DeviceManager.create_parent_mesh_device([1, 3])
    # no free 2x1 rectangle is left (chips 4 and 5 are side by side): a line along the snake order
    last = DeviceManager.create_parent_mesh_device([2, 1])
    assert last.chip_ids == (5, 4)
    DeviceManager.release_parent_device(square, cleanup_sub_devices=True)
    DeviceManager.release_parent_device(line)
    DeviceManager.release_parent_device(last)


def test_a_line_of_all_chips_follows_the_snake_order(monkeypatch):
    monkeypatch.setattr(DeviceManager, "system", "t3k")
    parent, devices = DeviceManager.acquire_available_devices()
    assert parent.chip_ids == (0, 1, 2, 3, 7, 6, 5, 4)
    assert [d.chip_ids for d in devices] == [(c,) for c in parent.chip_ids]
    t3k = system_desc.get("t3k")
    assert all(len(t3k.route(a, b)) == 1 for a, b in zip(parent.chip_ids, parent.chip_ids[1:]))
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)


def test_an_unknown_system_is_an_error_listing_the_known_ones(monkeypatch):
    monkeypatch.setattr(DeviceManager, "system", "t4k")
    with pytest.raises(Exception, match="DeviceManager.system is 't4k'; the emulated systems are n150, n300, t3k"):
        DeviceManager.get_num_available_devices()
