"""PNG previews and decimated JSON series for parsed instrument files (pure, no Django).

``render_preview_png`` draws with matplotlib's Agg backend only (no display, thread-safe
enough for a worker as each call builds its own Figure): XRD patterns, FTIR/UV-vis/PL spectra
(all series, legend), μ(E), EDS/EELS spectra, and TEM images with a calibrated scale bar.
Attachments get thumbnails: photos with Pillow (size checked before decoding: no decompression
bombs) and the first page of PDFs with PDFium (pypdfium2, offline).
"""

from __future__ import annotations

import io
import threading

import numpy as np
from matplotlib.figure import Figure

from characterization.parsers.base import ImageData, ParsedFile
from characterization.parsers.spectra import decimate
from labdb.lib.plotting import one_figure_at_a_time

NICE_STEPS = (1, 2, 5)
MAX_PREVIEW_POINTS = 20000
MAX_SERIES_IN_PREVIEW = 12
MAX_PREVIEW_PIXELS = 1024 * 1024  # an image preview never draws more (strided view)


def _title(parsed: ParsedFile) -> str:
    """``<format>: <file name>`` (file name from metadata, set by every parser)."""
    title = f"{parsed.format}: {parsed.metadata.get('filename', '?')}"
    return f"{title} — SIMULATED (not measured)" if parsed.metadata.get("simulated") else title


def nice_length(target: float) -> float:
    """The largest 1/2/5 × 10ⁿ value ≤ ``target`` (for scale bars). Raises ValueError if ≤ 0."""
    if not target > 0:
        raise ValueError("target must be positive")
    exponent = np.floor(np.log10(target))
    best = 10.0**exponent
    for step in NICE_STEPS:
        if step * 10.0**exponent <= target:
            best = step * 10.0**exponent
    return float(best)


def _same_axis(series: list) -> tuple[list, list]:
    """(series sharing the first one's y quantity and unit, the names of the others).

    Only curves of one quantity may share an axis: raw S1 (CPS) drawn under an S1c/R1c
    (CPS / MicroAmps) label would be a wrong number read off the plot.
    """
    first = series[0]
    same = [s for s in series if (s.y_label, s.y_unit) == (first.y_label, first.y_unit)]
    return same, [s.name for s in series if s not in same]


def _draw_series(fig: Figure, parsed: ParsedFile) -> None:
    """Line plot of the series (FTIR: only the preferred block; others: every series of the
    first one's quantity, with a legend naming each; the title says what is not drawn)."""
    ax = fig.add_subplot(111)
    series = parsed.series[:1] if parsed.technique == "ftir" else parsed.series
    series, left_out = _same_axis(series)
    for s in series[:MAX_SERIES_IN_PREVIEW]:
        x, y = decimate(s.x, s.y, MAX_PREVIEW_POINTS)
        ax.plot(x, y, lw=0.8, label=s.name)
    first = series[0]
    ax.set_xlabel(f"{first.x_label} ({first.x_unit})" if first.x_unit else first.x_label)
    ax.set_ylabel(f"{first.y_label} ({first.y_unit})" if first.y_unit else first.y_label)
    if first.x_unit == "cm⁻¹":
        ax.invert_xaxis()  # IR convention: wavenumber decreasing to the right
    if len(series) > 1 or left_out:
        ax.legend(fontsize=7, loc="best")
    note = f"\n(not drawn, other quantity: {', '.join(left_out)[:80]})" if left_out else ""
    ax.set_title(_title(parsed) + note, fontsize=9)


def preview_pixels(pixels, max_pixels: int = MAX_PREVIEW_PIXELS):
    """A strided view of the first frame of ``pixels`` with at most ``max_pixels`` pixels
    (every k-th row and column, k the same on both axes; no copy, nothing decoded beyond it).
    """
    frame = pixels[(0,) * (np.ndim(pixels) - 2)] if np.ndim(pixels) > 2 else pixels
    height, width = np.shape(frame)
    step = max(1, int(np.ceil(np.sqrt(height * width / max_pixels))))
    return frame[::step, ::step]


def _draw_image(fig: Figure, parsed: ParsedFile, image: ImageData) -> None:
    """Grey-scale image with a scale bar in calibrated units (if calibrated)."""
    ax = fig.add_subplot(111)
    height_px, width_px = np.shape(image.pixels)[-2:]
    pixels = np.asarray(preview_pixels(image.pixels), dtype=float)
    lo, hi = np.percentile(pixels, [1, 99]) if pixels.size else (0, 1)
    ax.imshow(  # extent in original pixels: the scale bar stays calibrated after striding
        pixels, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1,
        extent=(0, width_px, height_px, 0), interpolation="nearest",
    )
    ax.set_axis_off()
    if image.pixel_size and image.pixel_unit and width_px >= 2:
        bar_len = nice_length(0.25 * width_px * image.pixel_size)
        bar_px = bar_len / image.pixel_size
        y = height_px * 0.92
        ax.plot([width_px * 0.05, width_px * 0.05 + bar_px], [y, y], color="yellow", lw=3)
        ax.text(
            width_px * 0.05, y * 0.97, f"{bar_len:g} {image.pixel_unit}", color="yellow", fontsize=9
        )
    else:
        ax.text(
            0.02,
            0.02,
            "uncalibrated (no pixel size)",
            color="yellow",
            transform=ax.transAxes,
            fontsize=8,
        )
    ax.set_title(_title(parsed), fontsize=9)


def _draw_table(fig: Figure, parsed: ParsedFile) -> None:
    """Histogram for size tables, bar chart of means for composition tables."""
    ax = fig.add_subplot(111)
    if parsed.technique == "tem_sizes":
        sizes = [r["size"] for r in parsed.tables]
        ax.hist(sizes, bins=min(30, max(5, len(sizes) // 3)))
        unit = parsed.key_numbers.get("size_unit") or "image units"
        ax.set_xlabel(f"{parsed.key_numbers.get('size_column')} ({unit})")
        ax.set_ylabel("count")
    else:
        means = {
            k: v
            for k, v in (parsed.key_numbers.get("mean_by_quantity") or {}).items()
            if v is not None
        }
        ax.bar(list(means), list(means.values()))
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.set_title(_title(parsed), fontsize=9)


@one_figure_at_a_time
def render_preview_png(
    parsed: ParsedFile, *, width_in: float = 6.0, height_in: float = 4.0, dpi: int = 100
) -> bytes:
    """PNG bytes of a preview of ``parsed`` (image, series or table summary).

    Raises ValueError when ``parsed`` has nothing to draw.
    """
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    if parsed.image is not None:
        _draw_image(fig, parsed, parsed.image)
        kind = "image"
    elif parsed.series:
        _draw_series(fig, parsed)
        kind = "series"
    elif parsed.tables:
        _draw_table(fig, parsed)
        kind = "table"
    else:
        raise ValueError("nothing to preview: no image, series or table")
    # Fixed margins, not ``tight_layout``: that lays out every tick label and title once more
    # before the real draw (a third of a preview's time, measured), for margins these fixed
    # ones already hold at 6 × 4 in.
    fig.subplots_adjust(**_MARGINS[kind])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# Subplot margins (fractions of the figure) that hold, at the default 6 × 4 in and 100 dpi,
# tick labels of up to ~7 characters, the axis labels and a two-line title (the "not drawn"
# note); images have no axes to label, tables have 45°-rotated category labels.
_MARGINS = {
    "series": {"left": 0.14, "right": 0.97, "bottom": 0.13, "top": 0.88},
    "image": {"left": 0.02, "right": 0.98, "bottom": 0.02, "top": 0.92},
    "table": {"left": 0.12, "right": 0.97, "bottom": 0.25, "top": 0.9},
}


def _finite_list(values: np.ndarray) -> list[float | None]:
    """JSON-safe list: NaN/inf → None."""
    arr = np.asarray(values, dtype=float)
    return [float(v) if np.isfinite(v) else None for v in arr]


def series_to_json(parsed: ParsedFile, max_points: int = 2000) -> dict:
    """Decimated series for interactive plots: ``{"format", "technique", "title", "series":
    [{"name", "x", "y", "x_label", "x_unit", "y_label", "y_unit", "n_points"}]}``; each series
    has at most ``max_points`` points (ends kept); ``n_points`` is the original length.
    """
    out = []
    for s in parsed.series:
        x, y = decimate(s.x, s.y, max_points)
        out.append(
            {
                "name": s.name,
                "x": _finite_list(x),
                "y": _finite_list(y),
                "x_label": s.x_label,
                "x_unit": s.x_unit,
                "y_label": s.y_label,
                "y_unit": s.y_unit,
                "n_points": int(len(s.x)),
            }
        )
    return {
        "format": parsed.format,
        "technique": parsed.technique,
        "title": _title(parsed),
        "series": out,
    }


# --- attachment thumbnails (photos, notebook scans, PDFs) ------------------------------------

THUMBNAIL_PX = 360
MAX_DECODE_PIXELS = 64_000_000  # 64 megapixels: any phone or microscope camera, not a bomb
_PDFIUM_LOCK = threading.Lock()  # PDFium is not thread-safe


class PreviewRefused(ValueError):
    """No thumbnail for this content; ``str(exc)`` says why, in words for the uploader."""


def render_image_thumbnail(
    content: bytes, *, max_px: int = THUMBNAIL_PX, max_pixels: int = MAX_DECODE_PIXELS
) -> bytes:
    """PNG thumbnail (longest side ≤ ``max_px``) of a PNG/JPEG/GIF/WebP image.

    Reads the header first and refuses images with more than ``max_pixels`` pixels before
    decoding anything (decompression bombs); JPEGs are decoded at reduced scale. EXIF rotation
    is applied. Raises PreviewRefused for bombs and for content Pillow cannot decode.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise PreviewRefused(
                    f"the image is {width} × {height} pixels ({width * height / 1e6:.0f} "
                    f"megapixels); thumbnails are made only up to {max_pixels / 1e6:.0f} "
                    "megapixels (guard against decompression bombs)"
                )
            image.draft("RGB", (max_px, max_px))
            thumb = ImageOps.exif_transpose(image)
            thumb.thumbnail((max_px, max_px))
            thumb = thumb.convert("RGBA" if "A" in thumb.getbands() else "RGB")
    except PreviewRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise PreviewRefused(f"the image is too large to decode safely ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise PreviewRefused(f"the image could not be decoded for a thumbnail ({exc})") from None
    buf = io.BytesIO()
    thumb.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def render_pdf_thumbnail(content: bytes, *, max_px: int = THUMBNAIL_PX) -> bytes:
    """PNG thumbnail of the first page of a PDF (longest side ≤ ``max_px`` pixels).

    Rendered offline with PDFium (pypdfium2) at a scale computed from the page size, so the
    bitmap stays small whatever the PDF declares. Raises PreviewRefused for unreadable PDFs.
    """
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(content)
        except pdfium.PdfiumError as exc:
            raise PreviewRefused(f"the PDF could not be read for a thumbnail ({exc})") from None
        try:
            if len(pdf) == 0:
                raise PreviewRefused("the PDF has no pages")
            page = pdf[0]
            width_pt, height_pt = page.get_size()
            if not (width_pt > 0 and height_pt > 0):
                raise PreviewRefused("the first page of the PDF has no size")
            scale = max_px / max(width_pt, height_pt)
            image = page.render(scale=scale).to_pil()
        finally:
            pdf.close()
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", optimize=True)
    return buf.getvalue()
