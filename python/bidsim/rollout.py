"""Reading the HDF5 rollout datasets that ``bidsim rollout --out DIR`` writes (schema version 1,
docs/scale-out.md): one file per MPI rank, concatenated here in global environment order."""
import glob
import os

import numpy as np

from ._bidsim import UsageError

_SCHEMA_VERSION = 1
_PER_ENV = ("observation", "multiplier", "reward", "cost", "value", "conversions", "wins", "exposures", "bids",
            "remaining_budget", "impressions", "auction_passes", "env")
_PER_AGENT = ("agent_category", "agent_budget", "agent_value_scale")


def load_rollout(directory):
    """Returns ``(arrays, attributes)``: a dict of NumPy arrays (``reward`` [E, T, N], ...) with the
    rank files joined along the environment axis, and the first file's root attributes.

    Needs h5py (Debian: python3-h5py). Raises UsageError for a missing directory, no files, a schema
    version this reader does not know, or rank files that do not belong together."""
    try:
        import h5py
    except ImportError:
        raise UsageError("load_rollout: needs h5py (Debian: apt install python3-h5py)") from None
    if not os.path.isdir(directory):
        raise UsageError(f"load_rollout: {directory}: not a directory")
    paths = glob.glob(os.path.join(directory, "rollout-rank*.h5"))
    if not paths:
        raise UsageError(f"load_rollout: {directory}: no rollout-rank*.h5 file (written by `bidsim rollout --out DIR`)")
    paths.sort(key=lambda p: int(os.path.basename(p)[len("rollout-rank"):-len(".h5")]))
    files = [h5py.File(p, "r") for p in paths]
    try:
        attributes = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in files[0].attrs.items()}
        for path, f in zip(paths, files):
            version = int(f.attrs.get("schema_version", -1))
            if version != _SCHEMA_VERSION:
                raise UsageError(f"load_rollout: {path}: schema_version {version}, expected {_SCHEMA_VERSION}")
            if int(f.attrs["ranks"]) != len(files):
                raise UsageError(f"load_rollout: {path}: written by {int(f.attrs['ranks'])} ranks, found {len(files)} files")
        arrays = {name: np.concatenate([f[name][:] for f in files]) for name in _PER_ENV}
        arrays.update({name: files[0][name][:] for name in _PER_AGENT})
    finally:
        for f in files:
            f.close()
    return arrays, attributes
