"""Run the Model Optimizer of OpenVINO 2022.3 in this Python: ``python mo_runner.py <mo arguments>``.

This runs in the mo environment's Python and imports nothing of edgeconv. The ``mo`` console script
is a launcher. It checks in a second Python process that the Model Optimizer imports, then starts
``openvino/tools/mo/main.py`` in a third. That main process checks, in a fourth, that the OpenVINO
runtime bindings import (``utils/check_ie_bindings.py``).

Here those same bindings are imported in this process first, so a broken installation still stops
with an ImportError. Then mo's ``main`` runs with its subprocess check answered, and the rest is
stock mo. The IR is the same, byte for byte (``tests/workflow/test_rvc2_workflow.py``). On a small
model this saves about 2 of mo's 2.8 s.
"""

import os
import runpy
import sys

# This file's directory is first on sys.path; edgeconv's targets/openvino.py must not shadow OpenVINO.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

# What mo's check_ie_bindings.py imports (import_core_modules), imported here instead.
from openvino._offline_transformations import (  # noqa: E402, F401
    apply_fused_names_cleanup,
    apply_low_latency_transformation,
    apply_make_stateful_transformation,
    apply_moc_legacy_transformations,
    apply_moc_transformations,
    generate_mapping_file,
)
from openvino.frontend import FrontEnd, FrontEndManager  # noqa: E402, F401
from openvino.runtime import Dimension, Model, PartialShape, get_version, serialize  # noqa: E402, F401
from openvino.runtime.op import Parameter  # noqa: E402, F401

import openvino.tools.mo.convert_impl as convert_impl  # noqa: E402
import openvino.tools.mo.utils.find_ie_version as find_ie_version  # noqa: E402


def _bindings_import(silent=False):
    return True


find_ie_version.find_ie_version = _bindings_import
convert_impl.find_ie_version = _bindings_import  # imported by name there

if __name__ == "__main__":
    sys.argv = ["mo", *sys.argv[1:]]
    runpy.run_module("openvino.tools.mo.main", run_name="__main__", alter_sys=True)
