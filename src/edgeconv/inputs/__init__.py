"""Where a model's files come from: one module per kind of input (a local path, an ``s3://``
object, prefix or archive, a Luxonis dataset split, an NN Archive, a demo model), listed in
:mod:`edgeconv.inputs.table` and asked by :class:`edgeconv.inputs.localize.Inputs` while
Snakemake parses the workflow. A kind says how a value is looked up, which local path it becomes,
which rule makes that path, and the version that reruns what reads it when the input changes.
"""
