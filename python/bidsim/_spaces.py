"""Observation/action space descriptors: gymnasium's Box when gymnasium is installed, else a small
stand-in with the same attributes (low, high, shape, dtype, sample, contains), so nothing here needs
gymnasium (not packaged in Debian 12)."""
import numpy as np

try:  # pragma: no cover - depends on the machine
    from gymnasium.spaces import Box  # noqa: F401
except ImportError:
    class Box:
        """The subset of gymnasium.spaces.Box that bidsim's environments use."""

        def __init__(self, low, high, shape, dtype=np.float32, seed=None):
            self.shape = tuple(shape)
            self.dtype = np.dtype(dtype)
            self.low = np.broadcast_to(np.asarray(low, dtype=self.dtype), self.shape).copy()
            self.high = np.broadcast_to(np.asarray(high, dtype=self.dtype), self.shape).copy()
            self._rng = np.random.default_rng(seed)

        def sample(self):
            low = np.where(np.isfinite(self.low), self.low, -1.0)
            high = np.where(np.isfinite(self.high), self.high, low + 2.0)
            return self._rng.uniform(low, high).astype(self.dtype)

        def contains(self, x):
            x = np.asarray(x)
            return x.shape == self.shape and bool(np.all(x >= self.low) and np.all(x <= self.high))

        def __repr__(self):
            return f"Box({self.low.min()}, {self.high.max()}, {self.shape}, {self.dtype})"
