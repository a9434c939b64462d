"""Pictures of evaluation numbers: confusion heatmaps, mistake grids, training curves.

Pictures come second: every function here draws numbers that ``evaluate.py``
has already computed and written as JSON/CSV. Figures are drawn with the Agg
backend (no display needed) and saved through :func:`save_figure`, so a killed
process never leaves a half-written PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .artifacts import atomic_path
from .digits import CLASS_NAMES

DPI = 110  # dots per inch of saved PNGs: a 7-inch confusion matrix is ~770 px wide
MISTAKE_COLUMNS = 8


def _pyplot():
    """matplotlib.pyplot on the Agg backend (headless, thread-safe enough for callbacks)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, target: Path, *, dpi: int = DPI) -> Path:
    """Atomically save ``fig`` as a PNG at ``target`` and close it."""
    try:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    return Path(target)


def confusion_figure(matrix: np.ndarray, *, title: str, normalized: bool = False, size: float = 7.0):
    """A labelled seaborn heatmap of a 10x10 confusion matrix (rows: true digit).

    Counts use a logarithmic colour scale: on MNIST the diagonal holds ~1,000
    per cell and the errors a handful, so a linear scale would paint every
    error white. Zero cells stay white and unlabelled, so the eye lands on the
    mistakes. ``normalized`` divides each row by its total and shows
    percentages (the diagonal is then each digit's recall).
    """
    import seaborn as sns
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FuncFormatter

    plt = _pyplot()
    matrix = np.asarray(matrix, dtype=np.float64)
    if normalized:
        totals = matrix.sum(axis=1, keepdims=True)
        values = 100.0 * np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
        labels = np.where(values >= 0.1, np.char.add(np.char.mod("%.1f", values), "%"), "<0.1%")
        labels = np.where(values > 0, labels, "")
        vmin, colorbar_label = 0.1, "% of the true digit's images"
    else:
        values = matrix
        labels = np.where(values > 0, np.char.mod("%d", values.astype(np.int64)), "")
        vmin, colorbar_label = 1, "images"
    fig, ax = plt.subplots(figsize=(size, size * 0.86))
    norm = LogNorm(vmin=vmin, vmax=max(values.max(), vmin * 10))
    sns.heatmap(
        np.where(values > 0, values, np.nan), ax=ax, cmap="rocket_r", norm=norm, annot=labels, fmt="",
        annot_kws={"fontsize": 8 if normalized or size < 6 else 9}, linewidths=0.5, linecolor="#dddddd", square=True,
        xticklabels=list(CLASS_NAMES), yticklabels=list(CLASS_NAMES), cbar_kws={"label": colorbar_label},
    )  # fmt: skip
    ax.collections[0].colorbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_facecolor("white")
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.tick_params(axis="y", rotation=0)
    ax.set_title(title, fontsize=11 if size >= 6 else 9)
    return fig


# Colour stops of the per-epoch heatmap (few counts -> many), close to seaborn's "rocket_r".
HEATMAP_STOPS = np.float32([[250, 235, 221], [240, 96, 67], [113, 30, 87], [28, 16, 44]])
HEATMAP_CELL = 30  # px per cell of the per-epoch image


def confusion_image(matrix: np.ndarray, *, title: str) -> np.ndarray:
    """A 10x10 count heatmap as an RGB ``(H, W, 3)`` uint8 array, drawn with Pillow.

    Drawn every epoch for TensorBoard, where seaborn's figure
    (:func:`confusion_figure`, the one in evaluation reports) costs more than
    the rest of the epoch's bookkeeping together; this one takes a few
    milliseconds. Same reading: rows are the true digit, a logarithmic colour
    scale, zero cells white and unlabelled.
    """
    from PIL import Image, ImageDraw, ImageFont

    counts = np.asarray(matrix, dtype=np.int64)
    classes, cell, margin, top = len(counts), HEATMAP_CELL, 2 * HEATMAP_CELL, 2 * HEATMAP_CELL
    image = Image.new("RGB", (margin + classes * cell + cell // 2, top + classes * cell + margin), "white")
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=cell * 0.4)
    level = np.log1p(counts) / np.log1p(max(int(counts.max()), 1))  # 0 (none) .. 1 (largest cell)
    position = level * (len(HEATMAP_STOPS) - 1)
    colours = np.stack([np.interp(position, np.arange(len(HEATMAP_STOPS)), HEATMAP_STOPS[:, c]) for c in range(3)], -1)
    for (row, col), count in np.ndenumerate(counts):
        box = (margin + col * cell, top + row * cell, margin + (col + 1) * cell - 1, top + (row + 1) * cell - 1)
        draw.rectangle(box, fill=tuple(int(v) for v in colours[row, col]) if count else "white", outline="#dddddd")
        if count:
            ink = "white" if level[row, col] > 0.55 else "black"
            draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), str(count), fill=ink, font=font, anchor="mm")
    for k in range(classes):
        draw.text((margin + (k + 0.5) * cell, top + classes * cell + 4), str(k), fill="black", font=font, anchor="mt")
        draw.text((margin - 6, top + (k + 0.5) * cell), str(k), fill="black", font=font, anchor="rm")
    draw.text(
        (margin + classes * cell / 2, top + classes * cell + cell),
        "predicted digit",
        fill="black",
        font=font,
        anchor="mt",
    )
    draw.text((margin + classes * cell / 2, top / 2), title, fill="black", font=font, anchor="mm")
    draw.text((4, top + classes * cell / 2), "true", fill="black", font=font, anchor="lm")
    return np.asarray(image)


def mistakes_figure(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, confidence: np.ndarray, *, title: str):
    """A grid of misclassified images, each captioned ``true -> predicted (confidence)``.

    Args:
        images: uint8 ``(K, 28, 28)``, already ordered (most confident first).
        y_true, y_pred: ``(K,)`` labels.
        confidence: ``(K,)`` probability the model gave its (wrong) prediction.
    """
    plt = _pyplot()
    count = max(len(images), 1)
    columns = min(MISTAKE_COLUMNS, count)
    rows = -(-count // columns)
    height = 1.6 * rows + 0.8  # inches: 0.8 for the heading and the first row's captions
    fig, axes = plt.subplots(rows, columns, figsize=(1.45 * columns, height), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, true, pred, conf in zip(axes.flat, images, y_true, y_pred, confidence):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(f"true {true} → {pred}\n{100 * conf:.1f}%", fontsize=9, color="#b00020")
    if not len(images):
        axes.flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=12)
    fig.suptitle(title, fontsize=11, y=1 - 0.12 / height)
    # Fixed spacing: tight_layout over 32 axes costs a full extra draw (~1 s).
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.75 / height, wspace=0.1, hspace=0.45)
    return fig


def curves_figure(history: list[dict], *, title: str, kept_epoch: int | None = None):
    """Loss and accuracy per epoch, training against validation (the paper's Figure 4).

    ``kept_epoch`` (1-based; the one ``model.keras`` holds, see
    ``artifacts.kept_row``) is marked with a dotted line.
    """
    plt = _pyplot()
    epochs = [int(row["epoch"]) + 1 for row in history]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label, style in (("", "training", "o-"), ("val_", "validation", "s-")):
            values = [float(row[prefix + metric]) for row in history if row.get(prefix + metric)]
            if len(values) == len(epochs):
                ax.plot(epochs, values, style, label=label, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if kept_epoch is not None:
        for ax in axes:
            ax.axvline(kept_epoch, color="gray", linestyle=":", label=f"kept epoch ({kept_epoch})")
        axes[0].legend()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


GROUP_COLOURS = {"clean": "#4d4d4d", "mnist-c": "#4c72b0", "real-input": "#dd8452", "printed": "#55a868"}
EXAMPLE_CELL = 56  # px of one example thumbnail in the grid


def robustness_figure(rows: list[dict], *, title: str):
    """Accuracy per condition as horizontal bars coloured by group, error counts on the bars.

    Args:
        rows: ``robustness.json`` conditions (name, group, accuracy, errors, n), in suite order.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.4))
    positions = np.arange(len(rows))[::-1]  # first condition at the top
    accuracy = [100 * r["accuracy"] for r in rows]
    colours = [GROUP_COLOURS.get(r["group"], "#8172b3") for r in rows]
    ax.barh(positions, accuracy, color=colours, height=0.75)
    for y, value, row in zip(positions, accuracy, rows):
        ax.text(value + 0.5, y, f"{value:.1f}%  ({row['errors']} errors)", va="center", fontsize=8)
    clean = next((100 * r["accuracy"] for r in rows if r["group"] == "clean"), None)
    if clean is not None:
        ax.axvline(clean, color=GROUP_COLOURS["clean"], linestyle=":", linewidth=1)
    ax.set_yticks(positions, [r["name"] for r in rows], fontsize=9)
    ax.set_xlim(0, 118)  # room for the labels right of a 100% bar
    ax.set_xticks(range(0, 101, 10))
    ax.set_xlabel("accuracy (%) after preprocess.to_mnist")
    groups = [g for g in GROUP_COLOURS if g in {r["group"] for r in rows}]
    handles = [plt.Rectangle((0, 0), 1, 1, color=GROUP_COLOURS[g]) for g in groups]
    ax.legend(handles, groups, loc="lower left", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _thumbnail(image: np.ndarray, side: int = EXAMPLE_CELL) -> np.ndarray:
    """Any (H, W) uint8 image fitted into a (side, side) float frame, aspect kept, mid grey around it."""
    from PIL import Image

    img = Image.fromarray(np.asarray(image, np.uint8))
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    small = np.asarray(img.resize(size, Image.NEAREST if scale >= 1 else Image.LANCZOS), np.float32)
    frame = np.full((side, side), 128.0, np.float32)
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    frame[top : top + size[1], left : left + size[0]] = small
    return frame


def examples_figure(examples: dict, *, title: str):
    """A grid: one row per condition, each example as given and as the model saw it, true → answer.

    Args:
        examples: condition name -> (inputs: list of (H, W) uint8, seen: (K, 28, 28) uint8,
            labels: (K,), predicted: (K,), -1 where preprocessing found no digit).
    """
    plt = _pyplot()
    cell, gap, caption = EXAMPLE_CELL, 4, 18
    columns = max((len(seen) for _, seen, _, _ in examples.values()), default=1)
    pair = 2 * cell + gap + 3 * gap
    mosaic = np.full((len(examples) * (cell + caption), columns * pair), 255.0, np.float32)
    texts = []
    for row, (inputs, seen, labels, predicted) in enumerate(examples.values()):
        top = row * (cell + caption) + caption
        for col, (raw, model_view, true, answer) in enumerate(zip(inputs, seen, labels, predicted)):
            left = col * pair
            mosaic[top : top + cell, left : left + cell] = _thumbnail(raw)
            mosaic[top : top + cell, left + cell + gap : left + 2 * cell + gap] = _thumbnail(model_view)
            shown = "no digit" if answer < 0 else str(answer)
            texts.append((left + cell, top - 3, f"{true} → {shown}", "#1a7f37" if answer == true else "#b00020"))
    width = mosaic.shape[1] / 80
    fig, ax = plt.subplots(figsize=(width + 1.6, mosaic.shape[0] / 80 + 0.6))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    for x, y, text, colour in texts:
        ax.text(x, y, text, ha="center", va="bottom", fontsize=8, color=colour)
    ax.set_yticks([r * (cell + caption) + caption + cell / 2 for r in range(len(examples))], list(examples), fontsize=9)
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(f"{title}\neach pair: the input as given | what the model saw (preprocess.to_mnist)", fontsize=10)
    fig.tight_layout()
    return fig
