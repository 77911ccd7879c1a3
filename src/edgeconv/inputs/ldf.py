"""``calibration.path: <dataset>:<split>``: a Luxonis dataset's split (:mod:`edgeconv.ldf`), as the
reference accepts it, when no such path exists. Looked up at parse time (a missing dataset or split
stops the run naming the key); the export_ldf rule writes its images into
``layout.ldf_images(dataset, split)``. Version: a digest of the split's sample ids and the
dataset's files."""

from __future__ import annotations

from edgeconv import layout
from edgeconv import ldf
from edgeconv.errors import InputError
from edgeconv.inputs.base import IMAGES, Kind, Made, Where
from edgeconv.inputs.local import beside_config


class LdfSplits(Kind):
    def claims(self, value: str, role: str, where: Where) -> bool:
        if role != IMAGES or ldf.parse(value) is None:
            return False
        return not (where.root / beside_config(value, where)).exists()

    def localize(self, value: str, role: str, where: Where) -> str:
        dataset, split, plugin = ldf.parse(value)
        directory = layout.ldf_images(dataset, split)
        if directory not in self.made:
            try:
                version = ldf.look_up(dataset, split, plugin)
            except InputError as exc:
                raise where.error(str(exc)) from None
            self.made[directory] = Made("export_ldf", {"dataset": dataset, "split": split, "version": version},
                                        directory=True)
        return directory
