"""tt_torch.export is a function of (model, example inputs): keyword inputs, and no state
carried between calls in one process (dynamo keeps compiled and run-eagerly frames on a
model's code objects)."""

from __future__ import annotations

import pytest
import torch

import tt_torch
from tests.helpers import MLP, outputs_of
from tt_torch import runtime
from tt_torch.exporter import ExportError

pytestmark = pytest.mark.usefixtures("fast_numerics")


class Masked(torch.nn.Module):
    """A model with two keyword inputs that uses a method of the input (``.size()``) as
    transformers models do: called with strings, it fails inside dynamo's trace."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(50, 16)
        self.mix = torch.nn.Linear(16, 16)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, input_ids, attention_mask=None):
        batch, length = input_ids.size()
        h = torch.relu(self.mix(self.emb(input_ids)))
        if attention_mask is not None:
            h = h * attention_mask.reshape(batch, length, 1).to(h.dtype)
        return self.head(h).sum(1)


def _inputs():
    torch.manual_seed(0)
    return torch.randint(0, 50, (2, 8)), (torch.rand(2, 8) > 0.3).long()


def _program_inputs(path) -> list[tuple[str, list[int]]]:
    binary = runtime.load_binary(path)
    assert binary.num_programs == 1, [binary.program_name(i) for i in range(binary.num_programs)]
    return [(d["name"], d["shape"]) for d in binary.program_inputs(0) if d["arg_type"] == "Input"]


def test_keyword_inputs_and_repeated_exports_each_write_their_own_model(tmp_path):
    model = Masked().eval()
    ids, mask = _inputs()
    with torch.no_grad():
        expected = model(ids, mask)
    # a failed call leaves dynamo marks on the model's code (the next compile would split it)
    with pytest.raises(AttributeError):
        torch.compile(model, backend="eager")("input_ids", "attention_mask")
    by_dict = tt_torch.export(model, {"input_ids": ids, "attention_mask": mask}, tmp_path / "dict.ttnn")
    by_tuple = tt_torch.export(model, (ids, mask), tmp_path / "tuple.ttnn")
    by_kwargs = tt_torch.export(model, (ids,), tmp_path / "kwargs.ttnn", kwargs={"attention_mask": mask})
    mlp_x = torch.randn(3, 32)
    mlp = tt_torch.export(MLP().eval(), (mlp_x,), tmp_path / "mlp.ttnn")
    again = tt_torch.export(model, (ids, mask), tmp_path / "again.ttnn")
    for result in (by_dict, by_tuple, by_kwargs, again):
        assert len(result.programs) == 1, result.programs
        assert [shape for _, shape in _program_inputs(result.path)] == [[2, 8], [2, 8]]
        loaded = runtime.load(result.path)(ids, mask)
        torch.testing.assert_close(outputs_of(loaded)[0], expected, rtol=1e-4, atol=1e-4)
    assert [shape for _, shape in _program_inputs(mlp.path)] == [[3, 32]]


def test_exports_past_the_recompile_limit_still_compile(tmp_path):
    """Each export compiles afresh: dynamo's per-code recompile limit is never reached."""
    model = MLP().eval()
    x = torch.randn(2, 32)
    with torch._dynamo.config.patch(recompile_limit=2):
        for k in range(3):
            result = tt_torch.export(model, (x,), tmp_path / f"m{k}.ttnn", golden=False, include_mlir=False)
            assert result.programs == ["graph0_0"]


def test_string_inputs_are_refused_before_compiling(tmp_path):
    with pytest.raises(ExportError, match=r"example_inputs\[0\] is a string"):
        tt_torch.export(Masked(), ("input_ids",), tmp_path / "x.ttnn")
