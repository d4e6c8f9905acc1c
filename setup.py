"""Builds the gaze Python package with the project's CMake.

    pip install --no-build-isolation .          # into the active environment / venv

The extension gaze._core is the CMake target gaze_python. By default it is
built in build/pip (Release, no tests, benchmarks or CLI; rebuilt
incrementally on the next install). GAZE_CMAKE_BUILD_DIR=<dir> reuses an
already configured build tree instead (the CI's, say); CMAKE_ARGS adds
options to a fresh configure (e.g. "-DGAZE_NATIVE=OFF").
"""
import os
import pathlib
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        reuse = os.environ.get("GAZE_CMAKE_BUILD_DIR")
        build_dir = pathlib.Path(reuse or ROOT / "build" / "pip").resolve()
        if not reuse:
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), *generator, "-DCMAKE_BUILD_TYPE=Release",
                            "-DGAZE_BUILD_TESTS=OFF", "-DGAZE_BUILD_BENCHMARKS=OFF", "-DGAZE_BUILD_EXAMPLES=OFF",
                            "-DGAZE_BUILD_PYTHON=ON", f"-DPython3_EXECUTABLE={sys.executable}",
                            *shlex.split(os.environ.get("CMAKE_ARGS", ""))], check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(min(os.cpu_count() or 2, 2)))
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "gaze_python", "-j", jobs], check=True)
        built = sorted((build_dir / "python" / "gaze").glob("_core*.so"))
        if not built:
            raise RuntimeError(f"the CMake build in {build_dir} produced no gaze/_core*.so")
        target = pathlib.Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[-1], target)


# setuptools' own scratch files go under build/ too, not into the source tree.
(ROOT / "build" / "setuptools").mkdir(parents=True, exist_ok=True)
setup(
    packages=["gaze"],
    package_dir={"gaze": "python/gaze"},
    ext_modules=[Extension("gaze._core", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": "build/setuptools"}, "egg_info": {"egg_base": "build/setuptools"}},
    zip_safe=False,
)
