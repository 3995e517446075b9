"""Picture → piece at run time.

- `pipeline`  the frozen picture → music model in PyTorch (eager), loaded from the artifacts
- `export`    that pipeline exported once to an ONNX bundle
- `runtime`   the bundle run by ONNX Runtime without importing torch
- `engine`    which of them runs (`load`), and the pipeline's I3D settings from params.yaml
- `generate`  the loop behind `conchshell generate`: batches, failures per picture, where each piece goes
"""
