"""tt-torch: an ahead-of-time PyTorch 2 compiler for Tenstorrent devices.

The compiled program is a TTNN flatbuffer that tt-torch's runtime runs on an
emulated Tenstorrent chip. Start with ``torch.compile(model, backend="tt")``.
"""

__version__ = "0.1.0"
