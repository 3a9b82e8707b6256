"""dfx-labelselect: FINN's ``LabelSelect`` layer as a dfx plugin.

The plugin adds one layer kind and two streamlining rules, and copies no stage of
the default plugin:

* ``dfx_streamline_op_handlers``: rules for ``ArgMax`` and ``TopK``
  (:mod:`dfx_labelselect.streamline`). dfx's own streamliner has none; these take
  the selection on the integer accumulator of the last layer when that keeps the
  order of the logits;
* ``dfx_register_layer_kinds``: ``LabelSelect`` (:mod:`dfx_labelselect.layer`), the
  hardware layer that converts such a selection: its match, shape rule, exact
  execution, folding options, estimates and Verilog.

Installed, it is found through its entry point (group ``dfx.plugins``, name
``labelselect``): ``dfx run --plugins default,labelselect model.onnx``.

The hook implementations import the modules they return: loading the plugin
(``dfx steps``, say) imports nothing heavy; numpy comes in when dfx asks for the
layer kinds.
"""

from __future__ import annotations

from dfx import hookimpl

__version__ = "0.1.0"


@hookimpl
def dfx_register_layer_kinds():
    """The ``LabelSelect`` kind."""
    from dfx_labelselect.layer import LabelSelect

    return [LabelSelect]


@hookimpl
def dfx_streamline_op_handlers():
    """``ArgMax`` and ``TopK`` on the integers, in place of the float logits."""
    from dfx_labelselect.streamline import HANDLERS

    return dict(HANDLERS)
