"""Networks whose shape comes from the weights loaded into them.

The model store builds a network before it reads its weights, and a plugin's
trained variants share its builder, so the builder cannot know the shape
(levels, widths, resolution) in advance: :func:`shaped_by_weights` makes a
network rebuild itself in the shape of whatever state dict is loaded into it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from torch import nn

Net = TypeVar("Net", bound="nn.Module")  # torch is imported by whoever builds the network, not by this module


def shaped_by_weights(net: Net, config_of: Callable[[Mapping[str, Any], str], Any], parts: Sequence[str]) -> Net:
    """``net`` (with a ``config`` attribute, built as ``type(net)(config)``), made to take the shape of the state
    dict loaded into it: ``config_of(state, prefix)`` reads the shape, and the attributes named in ``parts`` are
    replaced by those of a network built in it before the tensors are copied."""

    def take_shape(module: nn.Module, state: Mapping[str, Any], prefix: str, *_: object) -> None:
        config = config_of(state, prefix)
        if config != module.config:
            fresh = type(module)(config)
            module.config = config
            for name in parts:
                setattr(module, name, getattr(fresh, name))

    net.register_load_state_dict_pre_hook(take_shape)
    return net
