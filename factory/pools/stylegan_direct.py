"""The untrained StyleGAN's synthesis network written directly, as the reference writes it: the yardstick
that `stylegan.synthesize` (the factored forward the pools use) is tested and benchmarked against.

Per image, every 3x3 conv weight is w[o, i] = chout[o] * style[i] * D[f(i)], demodulated per output
channel, applied as a grouped (per image) convolution after [1,3,3,1] upsampling; then noise, bias and
ReLU * sqrt(2). ToRGB is a modulated 1x1 conv without demodulation, the skip images summed after
upsampling. ~84 GMAC an image at 256 px: slow on purpose (tests use 32 px).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .stylegan import W_DIM, ImageDraws, Network, _upsample2d, layout
from .stylegan_priors import highfreq_dictionary, oriented_dictionary


def direct_synthesis(draws: ImageDraws, net: Network, size: int, zs: np.ndarray, dtype: str = "float64") -> np.ndarray:
    """Raw output (B, 3, size, size) for latents zs (B, num_ws, 512), computed in `dtype` on the CPU."""
    import torch
    import torch.nn.functional as F

    tdtype = getattr(torch, dtype)
    t = lambda a: torch.from_numpy(np.asarray(a)).to(tdtype)   # noqa: E731
    convs, rgbs, _ = layout(size)
    dictionary = t(oriented_dictionary() if draws.prior == "oriented" else highfreq_dictionary())
    up = functools.partial(_upsample2d, torch)     # the factored forward's own: not what this form checks

    with torch.no_grad():
        w = F.leaky_relu(t(zs), 0.2)
        b = w.shape[0]
        x, img, li = t(net.const)[None].expand(b, -1, -1, -1), None, 0
        for ri, r in enumerate(rgbs):
            while li < len(convs) and convs[li].res == r.res:
                c = convs[li]
                styles = w[:, c.w_index] @ t(net.conv_affine[li]).T / math.sqrt(W_DIM) + 1
                base = dictionary[torch.from_numpy(draws.filter_idx[li]).long()][None] * t(draws.chout[li])[:, None, None, None]
                wt = base[None] * styles[:, None, :, None, None]                       # (B, cout, cin, 3, 3)
                wt = wt / torch.sqrt(wt.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
                x = up(x) if c.up else x
                x = F.conv2d(x.reshape(1, b * c.cin, c.res, c.res), wt.reshape(b * c.cout, c.cin, 3, 3),
                             padding=1, groups=b)
                x = x.reshape(b, c.cout, c.res, c.res) + t(draws.noise[li]) * float(draws.strength[li])
                x = F.relu(x + t(draws.bias[li])[None, :, None, None]) * math.sqrt(2)
                li += 1
            styles = (w[:, r.w_index] @ t(net.rgb_affine[ri]).T / math.sqrt(W_DIM) + 1) / math.sqrt(r.cin)
            y = torch.einsum("oi,bi,bihw->bohw", t(draws.torgb[ri]), styles, x)
            img = y if img is None else up(img) + y
    return img.numpy()
