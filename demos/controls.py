"""Input controls that check what they receive, from the page or the API, and say what is wrong in one line naming
the control (and the API parameter a client sent): numbers, choices and image files. Re-exported by
``demos.common``."""

from __future__ import annotations

import logging
import math
import re

import gradio as gr

LOG = logging.getLogger("genlab")


def name_controls_by_api(demo: gr.Blocks) -> None:
    """Tell each input control the API parameter names it fills (``api_names``), so its messages name both: a
    client that sent ``seed`` is told about "Seed A (API: seed)". Uses Gradio's own naming; nothing on failure."""
    from gradio import blocks, utils

    try:
        for fn in demo.fns.values():
            if not fn.fn or fn.api_visibility == "private":
                continue
            info = utils.get_function_params(fn.fn)
            for index, block in enumerate(fn.inputs):
                names = block.__dict__.setdefault("api_names", set())
                names.add(blocks._get_api_parameter_name(fn, info, index))
    except Exception:          # another Gradio: messages keep the labels alone
        LOG.warning("API parameter names not attached to the controls", exc_info=True)


def one_line_file_errors(demo: gr.Blocks) -> None:
    """Every file and image input answers a value that is not a file (a bare path string, "", a number: gradio_client
    sends files as ``handle_file(path)``) with one line naming the control, where Gradio's own input check gave a
    three-line pydantic dump ("1 validation error for FileData ... 'meta' field must be explicitly provided ...")."""
    import pydantic

    def checked(model, block):
        def model_validate(cls, obj, *args, **kwargs):
            try:
                return model.model_validate.__func__(cls, obj, *args, **kwargs)
            except pydantic.ValidationError:
                shown = repr(obj) if len(repr(obj)) <= 40 else repr(obj)[:40] + "…"
                raise gr.Error(f"{control_name(block)}: send a file (gradio_client: handle_file(path)), not "
                               f"{shown}") from None
        # the same name and fields: the API's schema, and the client's file detection, are unchanged
        return type(model.__name__, (model,), {"model_validate": classmethod(model_validate),
                                               "__module__": model.__module__})

    inputs = {id(block): block for fn in demo.fns.values() for block in fn.inputs}
    for block in inputs.values():
        model = getattr(block, "data_model", None)
        if isinstance(block, (gr.File, gr.Image)) and model is not None:
            block.data_model = checked(model, block)


def control_name(block) -> str:
    """A control's name for messages: its label, and the API parameters it fills where they read otherwise."""
    # without a usage note "(0 = the base image; ...)"; a short bound such as "(1-8)" stays
    label = re.sub(r"\s*\([^)]*\s[^)]*\)$", "", getattr(block, "label", None) or "") or "value"
    names = sorted(n for n in getattr(block, "api_names", ()) if n)
    plain = "_".join(re.sub(r"\([^)]*\)|[^a-z0-9 ]", " ", label.lower()).split())   # "truncation τ" -> truncation
    if all(n.lower() == plain for n in names):
        return label
    return f"{label} (API: {', '.join(names)})"


def check_number(payload, label: str | None, minimum=None, maximum=None, integer: bool = False) -> float:
    """A number a widget received (from the page or the API) as a float, or one ``gr.Error`` line naming the
    control: null, NaN, infinities, words, decimals where a whole number is needed, values out of range.
    Numeric strings ("3", " 2.5") are converted."""
    def show(v) -> str:  # 4294967295, not 4.29497e+09; a client's 2**63 as it was sent (it read 9.22337e+18)
        if isinstance(v, int):
            return str(v) if len(str(v)) <= 24 else f"{str(v)[:12]}…"
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"

    name = label or "value"
    bounds = (f" in [{show(minimum)}, {show(maximum)}]" if minimum is not None and maximum is not None
              else f" >= {show(minimum)}" if minimum is not None
              else f" <= {show(maximum)}" if maximum is not None else "")
    kind = "a whole number" if integer else "a number"
    if isinstance(payload, str):
        try:
            payload = float(payload.strip())
        except ValueError:
            raise gr.Error(f"{name}: {payload[:40]!r} is not a number; give {kind}{bounds}",
                           print_exception=False) from None
    if payload is None or isinstance(payload, bool) or not isinstance(payload, (int, float)):
        what = "no number was given" if payload is None else f"{type(payload).__name__} {payload!r} is not a number"
        raise gr.Error(f"{name}: {what}; give {kind}{bounds}", print_exception=False)
    try:
        finite = math.isfinite(payload)
    except OverflowError:  # an integer too large for a float (10**400): out of any range
        raise gr.Error(f"{name}: {str(payload)[:12]}… is out of range; give {kind}{bounds}", print_exception=False) from None
    if not finite:
        raise gr.Error(f"{name}: {payload} is not a finite number; give {kind}{bounds}", print_exception=False)
    if integer and payload != int(payload):
        raise gr.Error(f"{name}: {show(payload)} is not a whole number; give {kind}{bounds}", print_exception=False)
    if (minimum is not None and payload < minimum) or (maximum is not None and payload > maximum):
        raise gr.Error(f"{name}: {show(payload)} is out of range; give {kind}{bounds}", print_exception=False)
    return payload


class Slider(gr.Slider):
    """``gr.Slider`` whose API values get :func:`check_number`'s one-line messages (Gradio's own say "Could not
    preprocess input component at index 2 ..." for a word or null). A slider of whole numbers (integer bounds and
    step) takes whole numbers only, and the API lists it as an integer (it said float, then refused 2.5 deeper in)."""

    # no __init__ here: Gradio builds a component's config from its class's __init__ signature

    def whole_numbers(self) -> bool:
        """Integer bounds and step (>= 1), or ``precision=0``."""
        if self.precision == 0:
            return True
        values = (self.minimum, self.maximum, self.step)
        return self.precision is None and self.step >= 1 and all(float(v).is_integer() for v in values)

    def api_info(self) -> dict:
        return super().api_info() | ({"type": "integer"} if self.whole_numbers() else {})

    def preprocess(self, payload):
        return super().preprocess(check_number(payload, control_name(self), self.minimum, self.maximum,
                                               integer=self.whole_numbers()))


class Number(gr.Number):
    """``gr.Number`` checked like :class:`Slider`; with ``precision=0`` a decimal is refused, not rounded."""

    def preprocess(self, payload):
        return super().preprocess(check_number(payload, control_name(self), self.minimum, self.maximum,
                                               integer=self.precision == 0))


class Setting(Number):
    """A training setting's number box: checked like :class:`Number`, but when the run starts, by the training panel
    (:meth:`checked`), not as the value arrives: a value it refuses is then a warning on the page, as the panel's
    other refusals (a run name, a batch too large), where a refusal here was a red "Error" toast."""

    def get_block_name(self) -> str:  # drawn by Gradio's own Number component
        return "number"

    get_block_class = get_block_name

    def preprocess(self, payload):
        return payload

    def checked(self, payload):
        """``payload`` as :class:`Number` takes it (a whole number for ``precision=0``), or its one ``gr.Error`` line."""
        return Number.preprocess(self, payload)


class CheckboxGroup(gr.CheckboxGroup):
    """``gr.CheckboxGroup`` whose API values get one line naming the control: null is no choice, a string is a
    comma-separated list (in brackets or not), an unknown choice is named (Gradio's own message lists every choice,
    and null or a string gave "Could not preprocess input component ..."); ``explain`` may say why instead.
    ``live``: set after construction to a function returning the current choices (checkpoints trained since the app
    started, which a client may name); they are read at each request."""

    live = None
    explain = None  # set after construction: a function giving why a value is not a choice (or None: the default line)

    def preprocess(self, payload):
        if self.live is not None:
            self.choices = [(name, name) for name in self.live()]
        if payload is None:
            payload = []
        elif isinstance(payload, str):  # "a, b" or a list written out: "[0, 1]", "['w0: 4x4']"
            text = payload.strip()
            text = text[1:-1] if text.startswith("[") and text.endswith("]") else text
            payload = [p.strip().strip("'\"").strip() for p in text.split(",") if p.strip().strip("'\"").strip()]
        if not isinstance(payload, list):
            raise gr.Error(f"{control_name(self)}: give a list of choices, got {type(payload).__name__}",
                           print_exception=False)
        values = [value for _, value in self.choices]
        unknown = [v for v in payload if v not in values]
        reason = self.explain(unknown[0]) if unknown and self.explain is not None else None
        if reason:
            raise gr.Error(f"{control_name(self)}: {reason}", print_exception=False)
        if unknown:  # the example: the box's own default (the first choice was often a visitor's training run)
            example = next((v for v in (self.value or []) if v in values), values[0] if values else None)
            raise gr.Error(f"{control_name(self)}: {str(unknown[0])[:60]!r} is not one of the choices"
                           f"{f' (for example {example!r})' if example else ''}", print_exception=False)
        return super().preprocess(payload)


def _check_choice(block, payload):
    """``payload`` if it is one of ``block``'s choices, else one ``gr.Error`` line naming the control and the choices
    (Gradio's own says "Value: foo is not in the list of choices" and logs a traceback)."""
    values = [value for _, value in block.choices]
    if payload is None or payload in values:   # None: as Gradio's own (the handler says what is missing)
        return payload
    shown = ", ".join(repr(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
    raise gr.Error(f"{control_name(block)}: {str(payload)[:60]!r} is not one of the choices ({shown})",
                   print_exception=False)


class Dropdown(gr.Dropdown):
    """``gr.Dropdown`` whose API values get :func:`_check_choice`'s one line (one with ``allow_custom_value``
    leaves the value to its handler)."""

    def preprocess(self, payload):
        if not self.allow_custom_value and not self.multiselect:
            _check_choice(self, payload)
        return super().preprocess(payload)


class Radio(gr.Radio):
    """``gr.Radio`` checked like :class:`Dropdown`."""

    def preprocess(self, payload):
        return super().preprocess(_check_choice(self, payload))


class _FileImage(gr.Image):
    """``gr.Image`` whose handler receives the uploaded file's path untouched (see :func:`ImageUpload`)."""

    def get_block_name(self) -> str:  # drawn by Gradio's own Image component
        return "image"

    get_block_class = get_block_name

    def preprocess(self, payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return super().preprocess(payload)


class _ImageFile(gr.File):
    """``gr.File`` whose handler receives the uploaded paths untouched (see :func:`ImageFile`)."""

    def get_block_name(self) -> str:  # drawn by Gradio's own File component
        return "file"

    get_block_class = get_block_name

    def _process_single_file(self, f):
        from gradio.utils import NamedString

        return NamedString(f.path)


def ImageFile(**kwargs) -> gr.File:  # noqa: N802 - used like a component class
    """A file box for images (one, or several with ``file_count="multiple"``): the browser's file picker offers
    images, and the content is judged by the project's one loader (``core.data.load_user_image``), which says what
    is wrong in one line. ``gr.File(file_types=["image"])`` judged by the name's extension: a text file sent as
    ``.py`` got Gradio's "Invalid file type" (and a traceback in the server's log) where every other image input
    said "... is not a readable image", and a PNG named ``.dat`` was refused."""
    return _ImageFile(**{"file_types": ["image"], "type": "filepath", **kwargs})


def ImageUpload(**kwargs) -> gr.Image:  # noqa: N802 - used like a component class
    """An image input that hands the file, exactly as uploaded, to the project's one loader
    (``core.data.load_user_image``): the handler receives its path. ``gr.Image`` opens every upload with PIL
    first, so a broken or non-image file gave its "Could not preprocess input component" dump instead of the
    loader's one line."""
    return _FileImage(**{"type": "filepath", "image_mode": None, **kwargs})
