"""cola_hear.windows: the timestamp grid and window moments from running sums."""

from __future__ import annotations

import pytest
import torch

from cola_hear import FrontEndConfig
from cola_hear.windows import prefix_sums, timestamp_hop_frames, timestamps_ms, window_moments


def test_window_moments_match_direct_mean_and_std():
    torch.manual_seed(0)
    x = 3.0 + torch.randn(500, 7)  # an offset, as log-mels have: the running sums must not lose it
    sums, squares = prefix_sums(x, dim=0), prefix_sums(x * x, dim=0)
    lo, hi = torch.tensor([0, 10, 450, 498]), torch.tensor([96, 106, 500, 500])
    count = (hi - lo).unsqueeze(1)
    for unbiased in (True, False):
        mean, std = window_moments(sums[hi] - sums[lo], squares[hi] - squares[lo], count, unbiased)
        for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
            torch.testing.assert_close(mean[i], x[a:b].mean(0))
            torch.testing.assert_close(std[i], x[a:b].std(0, unbiased=unbiased), atol=1e-5, rtol=1e-5)
    mean_only, none = window_moments(sums[hi] - sums[lo], None, count, True)
    assert none is None and mean_only.dtype == torch.float32


def test_timestamp_grid():
    config = FrontEndConfig()  # 10 ms frames
    assert timestamp_hop_frames(config, 50.0) == 5
    with pytest.raises(ValueError, match="below one frame"):
        timestamp_hop_frames(config, 4.0)
    ts = timestamps_ms(201, 5, config)
    assert ts.dtype == torch.float32 and len(ts) == 41 and ts[-1] == 2000.0
