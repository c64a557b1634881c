"""TTNN module -> flatbuffer bytes, and the descriptions of the target devices."""
