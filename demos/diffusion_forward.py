"""The forward process sub-tab's plain functions: x_0 from an upload or a world, x_t = q(x_t | x_0), the schedules
chart, and SDEdit's model and note (the DDPM / DDIM tab, ``demos/diffusion.py``, binds them)."""

from __future__ import annotations

import gradio as gr

WORLDS = ("digits", "faces", "shapes")
FORWARD_MAX_SIDE, FORWARD_MIN_SIDE = 64, 16


def _pil(tensor):
    from core.data import to_pil

    return to_pil(tensor)


def sdedit_schedule_note(checkpoint, schedule, world=None) -> str:
    """What SDEdit starts from: x_0 as the model takes it (its side and channels; a grey model reads dark ink on light
    paper inverted: an upload's x_t shown is not that), noised with the model's own schedule, which the view's may
    not be (at t = 600 a linear schedule leaves pure noise where a cosine one keeps a face); and, when the model was
    trained on another world than the dataset picked, that it redraws an image unlike its own as one of them."""
    from core.diffusion.service import model_input, model_schedule, model_world

    own, drawn, taken = model_schedule(checkpoint), model_world(checkpoint), model_input(checkpoint)
    taken = ("" if taken is None else f" x_0 goes in as the model takes it, {taken[0]} px "
             + ("grey (dark ink on light paper inverted)" if taken[1] == 1 else "colour")
             + ": its first frame is the x_t it starts from.")
    # (x_0 may be an upload since the dataset was picked: the note holds for any image)
    other = (f" **{checkpoint}** was trained on {drawn}, the dataset picked is {world}: it redraws an image unlike its "
             f"{drawn} as one of them (pick a model of {world}, or train one below)."
             if world and drawn and drawn != world else "")
    if own is None or own == schedule:
        return ("SDEdit noises x_0 as the x_t shown" + (f" ({own} schedule, the model's own)." if own else ".")
                + taken + other)
    return (f"SDEdit noises with {checkpoint}'s own **{own}** schedule, the x_t shown uses **{schedule}**: pick "
            f"{own} above to see where it starts." + taken + other)


def sdedit_model(world, current):
    """SDEdit's model for images of ``world``: :func:`core.diffusion.service.model_for_world`."""
    from core.diffusion.service import model_for_world

    return model_for_world(world, current)


def forward_x0(image, t, schedule, seed, _last):
    """The page's forward process on a new x_0 (an upload or a picked image): (x_0 box, x_t, the last x_0 read). An
    upload that is not a square of at most 64 px is shown as the x_0 that is noised (its centre, resized)."""
    from core.data import open_image

    x0 = forward_input(image)
    as_given = open_image(image).size == tuple(x0.shape[-1:-3:-1])
    return gr.skip() if as_given else _pil(x0), forward_image(image, t, schedule, seed), image


def dataset_image(world: str, index):
    """A held-out image of a GenLab world as the forward process's x_0."""
    from core.data import get_dataset

    if world not in WORLDS:
        raise ValueError(f"unknown dataset {world!r}; valid: {', '.join(WORLDS)}")
    ds = get_dataset(world, split="test")
    if index is None or float(index) != int(index) or not 0 <= int(index) < len(ds):
        raise ValueError(f"image index {index!r} is outside 0..{len(ds) - 1}")
    return _pil(ds[int(index)]["image"])


def forward_input(image):
    """The x_0 the forward process noises, (C, H, W) in [0, 1]: the image centre-cropped to a square of its short
    side, at most 64 px and at least 16 (a 1x1 upload gave a 1x1 x_t, a 3000x20 strip a square cut from its middle
    while the x_0 box showed the whole strip); grey stays grey; transparent pixels on white."""
    from core.data import load_user_image, open_image

    if image is None:
        raise ValueError("give an image: upload one or pick a dataset image")
    image = open_image(image)  # a path (as uploaded) or a PIL image; one clear ValueError for a broken file
    channels = 1 if image.mode in ("L", "1", "I;16", "I") else 3
    side = max(FORWARD_MIN_SIDE, min(min(image.size), FORWARD_MAX_SIDE))
    # transparent pixels on white, as in every tab's image input (the shared transparent-upload case)
    return load_user_image(image, channels=channels, size=side, background="white")


def forward_image(image, t, schedule, seed=0):
    """x_t of the image (Ho et al. 2020 eq. 4) as a PIL image, at the size of :func:`forward_input`'s x_0."""
    from core.diffusion.service import forward_noise

    x_t, _ = forward_noise(forward_input(image), t, schedule, seed)
    return _pil(x_t)


def schedule_view(t, schedule, curve):
    """The schedules chart with the marker at t, and one line of alpha-bar_t / SNR numbers at t."""
    from core.diffusion.schedule_chart import draw_schedule_chart
    from core.diffusion.service import T_FORWARD, describe_t

    t = int(t or 0)
    if not 0 <= t <= T_FORWARD:
        raise ValueError(f"t {t} is outside 0..{T_FORWARD}")
    return draw_schedule_chart(curve, t, schedule, T_FORWARD), describe_t(t, schedule)
