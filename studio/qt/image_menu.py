"""The Image and Select menus and Cut/Copy/Paste: resizing, cropping, turning and adjusting the picture, and the
selection (kept in the document, drawn as marching ants, used by a plugin run when there is no mask)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from studio.core.adjust import (
    BrightnessContrast,
    CanvasSize,
    HueSaturation,
    ImageSize,
    Levels,
    canvas_size,
    crop_to_selection,
    flip,
    resize_image,
    rotate,
)
from studio.core.document import Document, Layer, LayerKind, LayerLockedError
from studio.core.selection import (
    copy_pixels,
    cut_pixels,
    deselect,
    invert_selection,
    paste_layer,
    select_all,
    selection_to_mask,
)
from studio.core.undo import Command
from studio.qt.convert import numpy_to_qimage, qimage_to_numpy
from studio.qt.image_dialogs import AdjustDialog, SizeDialog

ADJUSTMENTS: tuple[tuple[str, str, type, str | None], ...] = (
    ("Levels", "&Levels…", Levels, "Ctrl+L"),
    ("Hue/saturation", "&Hue/Saturation…", HueSaturation, "Ctrl+U"),
    ("Brightness/contrast", "&Brightness/Contrast…", BrightnessContrast, None),
)


class ImageHost(Protocol):
    """What :class:`ImageActions` needs of the window it serves (the main window is one)."""

    @property
    def doc(self) -> Document | None: ...

    def show_message(self, text: str) -> None: ...


class ImageActions(QObject):
    """The Image and Select menu entries and the clipboard entries of the Edit menu, acting on ``host``'s document.

    Copy puts the picture on the system clipboard too; Paste takes the clipboard's picture as a new layer, where it
    was copied from when Studio copied it, else at the top left.
    """

    def __init__(self, host: ImageHost, parent: QWidget) -> None:
        super().__init__(parent)
        self.host = host
        self.parent_widget = parent
        self._copied: tuple[np.ndarray, tuple[int, int]] | None = None

    def add_to_menus(self, edit: QMenu, image: QMenu, select: QMenu) -> None:
        edit.addSeparator()
        self._add(edit, "Cu&t", self.cut, QKeySequence.StandardKey.Cut)
        self._add(edit, "&Copy", self.copy, QKeySequence.StandardKey.Copy)
        self._add(edit, "&Paste as New Layer", self.paste, QKeySequence.StandardKey.Paste)

        image.addSeparator()
        self._add(image, "&Resize Image…", self.resize_dialog, "Ctrl+Alt+I")
        self._add(image, "&Canvas Size…", self.canvas_size_dialog, "Ctrl+Alt+C")
        self._add(image, "C&rop to Selection", lambda: self._push(crop_to_selection, "Select something to crop to."))
        image.addSeparator()
        self._add(image, "Rotate 90° Clock&wise", lambda: self._push(lambda doc: rotate(doc, 1)))
        self._add(image, "Rotate 90° &Anticlockwise", lambda: self._push(lambda doc: rotate(doc, -1)))
        self._add(image, "Rotate &180°", lambda: self._push(lambda doc: rotate(doc, 2)))
        self._add(image, "Flip &Horizontally", lambda: self._push(lambda doc: flip(doc, horizontal=True)))
        self._add(image, "Flip &Vertically", lambda: self._push(lambda doc: flip(doc, horizontal=False)))
        image.addSeparator()
        for title, text, adjustment, key in ADJUSTMENTS:
            self._add(image, text, lambda t=title, a=adjustment: self.adjust_dialog(t, a), key)

        self._add(select, "&All", lambda: self._push(select_all), QKeySequence.StandardKey.SelectAll)
        self._add(select, "&Deselect", lambda: self._push(deselect), "Ctrl+Shift+A")
        self._add(select, "&Invert", lambda: self._push(invert_selection), "Ctrl+I")
        select.addSeparator()
        self._add(select, "Selection to &Mask", lambda: self._push(selection_to_mask, "Select something first."))

    def _add(
        self, menu: QMenu, text: str, slot: Callable[[], object], key: QKeySequence.StandardKey | str | None = None
    ) -> None:
        action = QAction(text, self.parent_widget)
        if key is not None:
            action.setShortcut(QKeySequence(key))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)

    def _push(self, make: Callable[[Document], Command[Document] | None], nothing: str = "") -> None:
        """Push the undo step ``make(doc)`` gives, or show ``nothing`` when it gives None."""
        doc = self.host.doc
        if doc is None:
            return
        command = make(doc)
        if command is not None:
            doc.history.push(command)
        elif nothing:
            self.host.show_message(nothing)

    # Dialogs

    def resize_dialog(self) -> SizeDialog | None:
        return self._size_dialog(ImageSize)

    def canvas_size_dialog(self) -> SizeDialog | None:
        return self._size_dialog(CanvasSize)

    def _size_dialog(self, params_class: type[ImageSize | CanvasSize]) -> SizeDialog | None:
        doc = self.host.doc
        if doc is None:
            return None
        dialog = SizeDialog(doc, params_class, self.parent_widget)

        def apply() -> None:
            size = dialog.params()
            if (size.width, size.height) == (doc.width, doc.height):
                return
            if isinstance(size, ImageSize):
                doc.history.push(resize_image(doc, size.width, size.height))
            else:
                doc.history.push(canvas_size(doc, size.width, size.height, size.anchor))

        dialog.accepted.connect(apply)
        dialog.open()
        return dialog

    def adjust_dialog(self, title: str, adjustment: type) -> AdjustDialog | None:
        """Open the dialog of ``adjustment`` on the selected layer, if it is a visible picture layer."""
        doc = self.host.doc
        layer = self._picture_layer("adjust")
        if doc is None or layer is None:
            return None
        dialog = AdjustDialog(doc, layer, title, adjustment, self.parent_widget)
        dialog.open()
        return dialog

    # Clipboard

    def copy(self) -> None:
        doc, layer = self.host.doc, self._picture_layer("copy")
        if doc is None or layer is None:
            return
        copied = copy_pixels(doc, layer)
        if copied is not None:
            self._copied = copied
            QGuiApplication.clipboard().setImage(numpy_to_qimage(copied[0]))

    def cut(self) -> None:
        doc, layer = self.host.doc, self._picture_layer("cut")
        if doc is None or layer is None:
            return
        self.copy()
        command = cut_pixels(doc, layer)
        if command is not None:
            doc.history.push(command)

    def paste(self) -> None:
        doc = self.host.doc
        if doc is None:
            return
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.host.show_message("There is no picture on the clipboard to paste.")
            return
        pixels = qimage_to_numpy(image)
        at = (0, 0)
        if self._copied is not None and np.array_equal(self._copied[0], pixels):
            at = self._copied[1]
        doc.history.push(paste_layer(doc, pixels, at))

    def _picture_layer(self, verb: str) -> Layer | None:
        """The selected layer when it is a visible picture layer; else None, and why in the status bar."""
        doc = self.host.doc
        layer = doc.active_layer if doc is not None else None
        if layer is None or layer.kind is not LayerKind.RASTER:
            self.host.show_message(f"Select a picture layer in the Layers panel to {verb} it.")
            return None
        if not layer.visible:
            self.host.show_message(f"Layer {layer.name!r} is hidden: show it to {verb} it.")
            return None
        if verb != "copy":
            try:
                layer.ensure_unlocked(f"{verb} it")
            except LayerLockedError as exc:
                self.host.show_message(str(exc))
                return None
        return layer
