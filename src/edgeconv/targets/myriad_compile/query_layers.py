"""Which layers of an IR the MYRIAD plugin of OpenVINO 2021.4 will not take, asked with no device
attached (``IECore.query_network``). Runs in the Python 3.8 environment of ``make rvc2-env``:

    .venvs/openvino-2021.4/bin/python query_layers.py model.xml

Prints one JSON object: ``{"layers": N, "unsupported": [{"type": ..., "name": ...}, ...]}``.
Python 3.8 syntax only.
"""

import ctypes
import json
import os
import sys


def main(xml):
    # The environment's own libusb-1.0 (make rvc2-env unpacks it when the system has none), loaded
    # first so that the MYRIAD plugin's dependency resolves to it.
    own = os.path.join(sys.prefix, "lib", "libusb-1.0.so.0")
    try:
        ctypes.CDLL("libusb-1.0.so.0", mode=ctypes.RTLD_GLOBAL)
    except OSError:
        if os.path.exists(own):
            ctypes.CDLL(own, mode=ctypes.RTLD_GLOBAL)
    import ngraph as ng
    from openvino.inference_engine import IECore

    ie = IECore()
    net = ie.read_network(model=xml)
    supported = ie.query_network(network=net, device_name="MYRIAD")
    ops = [
        op
        for op in ng.function_from_cnn(net).get_ordered_ops()
        if op.get_type_name() not in ("Parameter", "Result", "Constant")
    ]
    unsupported = [
        {"type": op.get_type_name(), "name": op.get_friendly_name()}
        for op in ops
        if op.get_friendly_name() not in supported
    ]
    print(json.dumps({"layers": len(ops), "unsupported": unsupported}))


if __name__ == "__main__":
    main(sys.argv[1])
