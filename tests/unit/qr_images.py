"""In-memory test images for the QR check (and its benchmark): QR codes made with
segno, photo-like noise, embedding, rotation, re-encoding.  Seeded, so the same
bytes every run."""

from __future__ import annotations

import io
import random

import segno
from PIL import Image

GROUP_URL = "https://weixin.qq.com/g/AQYAAHxFp0Yx2z8Lx1Y3dQ"


def qr_image(data: str = GROUP_URL, *, scale: int = 6, border: int = 4) -> Image.Image:
    """A plain black-on-white QR (never a Micro QR) as an RGB image."""
    buf = io.BytesIO()
    segno.make(data, error="m", micro=False).save(buf, kind="png", scale=scale, border=border)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def photo(width: int, height: int, *, seed: int = 1) -> Image.Image:
    """Photo-like noise: smooth colour blobs with grain (a hard case for detectors)."""
    rnd = random.Random(seed)
    sw, sh = max(1, width // 16), max(1, height // 16)
    blobs = Image.frombytes("RGB", (sw, sh), rnd.randbytes(3 * sw * sh))
    base = blobs.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 40).convert("RGB")
    return Image.blend(base, grain, 0.3)


def embed(background: Image.Image, code: Image.Image, *, at: tuple[float, float]) -> Image.Image:
    """``code`` pasted into a copy of ``background`` at the fractional position ``at``."""
    out = background.copy()
    x = int((out.width - code.width) * at[0])
    y = int((out.height - code.height) * at[1])
    out.paste(code, (x, y))
    return out


def rotated(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    return encode(image.convert("RGB"), "JPEG", quality=quality)
