"""Data: an offline-first catalog, device-resident batches and on-device augmentation.

    from cnnlab.data import load_dataset
    ds = load_dataset("fashion_mnist", validation_size=10_000)
"""

from cnnlab.data import augment, formats, generated, pipeline, sources  # noqa: F401  (register)
from cnnlab.data.catalog import (DATASETS, DataNotFoundError, Dataset, DatasetInfo, Split,
                                 load_dataset, register_dataset)
from cnnlab.data.formats import DataFormatError
from cnnlab.data.pipeline import DeviceSplit, epoch_batch_indices, eval_batch_indices

__all__ = ["DATASETS", "DataNotFoundError", "DataFormatError", "Dataset", "DatasetInfo",
           "DeviceSplit", "Split", "augment", "epoch_batch_indices", "eval_batch_indices",
           "formats", "load_dataset", "pipeline", "register_dataset"]
