"""Elementwise likelihood terms of the variational bound, in nats (torch tensors).

The discretized decoder is the one of Ho et al. 2020 eq. 13: data in [-1, 1] on 256 levels, each level
a bin of width 2/255 around its value, the two edge bins extended to -inf / +inf. The Gaussian CDF uses
the tanh approximation of PixelCNN++ (Salimans et al. 2017), as improved-diffusion does.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_BIN_HALF_WIDTH = 1.0 / 255.0  # half of the bin width 2/255 for data in [-1, 1]
_LOG_FLOOR = 1e-12  # probabilities are floored here before the log


def mean_flat(x: Tensor) -> Tensor:
    """Mean over every dimension but the first: [B, ...] -> [B]."""
    return x.mean(dim=tuple(range(1, x.ndim))) if x.ndim > 1 else x


def normal_kl(
    mean1: Tensor | float, logvar1: Tensor | float, mean2: Tensor | float, logvar2: Tensor | float
) -> Tensor:
    """KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) elementwise, in nats.

    KL = 0.5 * (logvar2 - logvar1 + exp(logvar1 - logvar2) + (mean1 - mean2)^2 exp(-logvar2) - 1).
    Arguments broadcast; at least one must be a tensor.
    """
    ref = next((a for a in (mean1, logvar1, mean2, logvar2) if isinstance(a, Tensor)), None)
    if ref is None:
        raise TypeError("normal_kl: at least one argument must be a tensor")
    logvar1, logvar2 = (torch.as_tensor(v, dtype=ref.dtype, device=ref.device) for v in (logvar1, logvar2))
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def approx_standard_normal_cdf(x: Tensor) -> Tensor:
    """Phi(x) ~= 0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (PixelCNN++ approximation)."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(x: Tensor, means: Tensor, log_scales: Tensor) -> Tensor:
    """log P(x) in nats, elementwise, for x on the 256-level grid of [-1, 1] (Ho et al. 2020 eq. 13).

    P(x) = Phi((x + 1/255 - mean)/s) - Phi((x - 1/255 - mean)/s), with the lower edge replaced by
    -inf for x = -1 and the upper edge by +inf for x = +1; s = exp(log_scales) is the standard
    deviation. ``x``, ``means``, ``log_scales`` broadcast to a common shape, which is returned.
    """
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_upper = approx_standard_normal_cdf(inv_std * (centered + _BIN_HALF_WIDTH))
    cdf_lower = approx_standard_normal_cdf(inv_std * (centered - _BIN_HALF_WIDTH))
    log_cdf_upper = torch.log(cdf_upper.clamp(min=_LOG_FLOOR))  # first bin: P = Phi(upper edge)
    log_sf_lower = torch.log((1.0 - cdf_lower).clamp(min=_LOG_FLOOR))  # last bin: P = 1 - Phi(lower edge)
    log_bin = torch.log((cdf_upper - cdf_lower).clamp(min=_LOG_FLOOR))
    return torch.where(x < -0.999, log_cdf_upper, torch.where(x > 0.999, log_sf_lower, log_bin))
