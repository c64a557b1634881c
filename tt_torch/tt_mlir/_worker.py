"""Worker process of tt_torch.tt_mlir: compiles StableHLO modules with the real tt-mlir.

Run as a script (``python _worker.py request.json``), never imported by tt-torch: the plugin is
a large native library with fatal asserts, so it only ever lives in this process. It imports
nothing of tt-torch. The request names the ``.ttsys`` and a list of items ``{text, out_dir,
name}``; for each item it writes ``out_dir/irs/*.mlir`` and ``*.ttnn`` (by the plugin), then
``out_dir/result.json`` ({"ok": bool, "error": str}). The parent reads results as they appear,
so a crash or a hang costs only the item in progress.
"""

import fcntl
import json
import os
import sys
import tempfile


def main() -> int:
    with open(sys.argv[1]) as f:
        request = json.load(f)
    os.environ["TT_COMPILE_ONLY_SYSTEM_DESC"] = request["ttsys"]
    import jax.extend
    import jaxlib
    from jax._src.lib import xla_client

    # Loading the plugin unpacks its tt-metal runtime assets into the temp directory; two
    # processes loading it at once fail ("failed to extract embedded tt-metal runtime archive"),
    # so loads take turns.
    with open(os.path.join(tempfile.gettempdir(), "tt-torch-tt-mlir-plugin-load.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        backend = jax.extend.backend.get_backend("tt")
    devices = jaxlib._jax.DeviceList(tuple(backend.devices()[:1]))
    for item in request["items"]:
        out_dir = item["out_dir"]
        os.makedirs(out_dir, exist_ok=True)
        options = xla_client.CompileOptions()
        options.env_option_overrides = [
            ("backend", "ttnn_flatbuffer"),
            ("export_path", out_dir),
            ("export_model_name", item["name"]),
            ("optimization_level", "0"),
        ]
        try:
            backend.compile_and_load(item["text"], devices, options)
            result = {"ok": True, "error": ""}
        except Exception as e:  # the plugin's diagnostics arrive as exceptions: they are the result
            result = {"ok": False, "error": str(e)}
        tmp = os.path.join(out_dir, "result.json.tmp")
        with open(tmp, "w") as f:
            json.dump(result, f)
        os.replace(tmp, os.path.join(out_dir, "result.json"))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
