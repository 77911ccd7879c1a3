"""edgeconv: convert ONNX models for Luxonis cameras with a Snakemake DAG of file-to-file steps."""

__version__ = "0.1.0"
