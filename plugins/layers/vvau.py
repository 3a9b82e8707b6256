"""VVAU: the vector-vector-activation unit of a depthwise convolution.

Every channel ``c`` of an output pixel is the dot product of its own ``K = KH*KW``
window values with its own ``K`` weights, ``acc[c] = sum_k x[k, c] * W[c, k]``, then
(unless ``noActivation``) thresholds as in the MVAU. The input is the window
generator's stream in ``(ky, kx, c)`` order, the same order as for a dense conv, so
the window generator's folding is its own.

Folding: ``PE`` channels and ``SIMD`` kernel positions in parallel. A word of the
input holds ``SIMD * PE`` consecutive window elements, so ``SIMD > 1`` needs
``PE = C`` (a word then holds whole kernel positions). With ``PE < C`` the
accumulators of all ``C/PE`` channel groups are live at once (the window arrives
kernel position by kernel position); they sit in a small memory. One output pixel
takes ``(K/SIMD) * (C/PE)`` cycles.

Node inputs: ``x[N, OH, OW, K*C]``, the weights ``W[C, K]`` and, with activation,
the thresholds ``T[C, levels-1]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dfx.layers import HWLayer, RTLModule, StreamSpec
from dfx.plugins.datatypes import signed_bits
from dfx.plugins.layers.memory import (
    BRAM18_BITS,
    bram_mapping,
    clog2,
    divisors,
    int_bits,
    rom_in_block_ram,
    rom_profile,
)

#: LUT costs of dfx_vvau's parts (Yosys synth_xilinx -family xc7, see
#: benchmarks/bench_calibrate_estimates.py, the conv section).
VVAU_LUT = {
    "base": 12.0,          # handshakes, counters
    "counter_bit": 1.0,
    "mult_bit": 1.4,       # per lane and partial product
    "signed_mult_bit": 1.3,
    "lane_bit": 2.6,       # per lane and operand bit (a bipolar operand: negate and sum)
    "pe": 6.0,
    "acc_bit": 1.1,        # per PE and accumulator bit: the adder
    "acc_mem_bit": 0.5,    # per PE and accumulator bit (C/PE > 1): the accumulator RAM
    "compare_bit": 0.52,
    "const_compare_bit": 0.15,
    "rom_piece16": 1.3,
    "out_bit": 1.3,
}


class VVAU(HWLayer):
    op_type = "VVAU"
    attributes = {
        "Channels": (int, 0),
        "Kernel": (list, [1, 1]),
        "Dim": (list, [1, 1]),  # output pixels (OH, OW)
        "PE": (int, 1),
        "SIMD": (int, 1),
        "noActivation": (int, 0),
        "out_scale": (float, 1.0),
        "out_bias": (float, 0.0),
        "ram_style": (str, "auto"),
        "resType": (str, "auto"),
        "inFIFODepths": (list, [2]),
        "outFIFODepths": (list, [2]),
    }
    folding_attributes = ("PE", "SIMD", "ram_style", "resType", "inFIFODepths",
                          "outFIFODepths")
    folding_dimensions = {"PE": "Channels"}
    folding_choices = {"ram_style": ("auto", "distributed", "block"),
                       "resType": ("auto", "lut", "dsp")}
    memory_styles = ("distributed", "block")

    # -- parameters ----------------------------------------------------------
    def taps(self) -> int:
        kh, kw = self.get("Kernel")
        return int(kh) * int(kw)

    def pixels(self) -> int:
        return int(np.prod(self.get("Dim")))

    def weights(self) -> np.ndarray:
        """``W[C, K]``."""
        return self.memoized(
            "weights", lambda: self.model.get_initializer(self.node.input[1]).astype(np.int64))

    def thresholds(self) -> np.ndarray | None:
        if self.get("noActivation") or len(self.node.input) < 3:
            return None
        return self.memoized(
            "thresholds",
            lambda: self.model.get_initializer(self.node.input[2]).astype(np.int64))

    def weight_datatype(self):
        return self.model.get_tensor_datatype(self.node.input[1])

    def acc_bits(self) -> int:
        """Width of the accumulator: every reachable value and every threshold."""
        def compute():
            w = self.weights()
            idt = self.input_datatype()
            pos = np.maximum(w, 0).sum(axis=1)
            neg = np.minimum(w, 0).sum(axis=1)
            a, b = int(idt.min()), int(idt.max())
            lo, hi = int((a * pos + b * neg).min()), int((b * pos + a * neg).max())
            t = self.thresholds()
            if t is not None and t.size:
                lo, hi = min(lo, int(t.min())), max(hi, int(t.max()))
            return max(2, signed_bits(lo, hi))

        return self.memoized("acc_bits", compute)

    # -- shape rule and execution ----------------------------------------------
    def output_shape(self) -> tuple[int, ...]:
        return self.input_shape()[:-1] + (self.get("Channels"),)

    def execute(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x).astype(np.int64)
        c, k = self.get("Channels"), self.taps()
        windows = x.reshape(*x.shape[:-1], k, c)
        acc = np.einsum("...kc,ck->...c", windows, self.weights())
        t = self.thresholds()
        if t is None:
            return acc.astype(np.float32)
        count = (acc[..., None] >= t).sum(axis=-1)
        return (self.get("out_scale") * count + self.get("out_bias")).astype(np.float32)

    # -- folding -----------------------------------------------------------------
    def check_folding(self, folding: dict[str, Any]) -> str | None:
        pe = int(folding.get("PE", self.get("PE")))
        simd = int(folding.get("SIMD", self.get("SIMD")))
        c, k = self.get("Channels"), self.taps()
        if c % pe:
            return f"PE={pe} does not divide Channels={c}"
        if k % simd:
            return f"SIMD={simd} does not divide the kernel's {k} positions"
        if simd > 1 and pe != c:
            return (f"SIMD={simd} > 1 needs PE = Channels = {c} (a word holds whole kernel "
                    f"positions), got PE={pe}")
        style = folding.get("ram_style", "auto")
        if style not in ("auto", "distributed", "block"):
            return f"ram_style={style!r} is not one of auto, distributed, block"
        if folding.get("resType", "auto") not in ("auto", "lut", "dsp"):
            return f"resType={folding.get('resType')!r} is not one of auto, lut, dsp"
        return None

    def folding_options(self, cfg) -> list[dict[str, Any]]:
        c, k = self.get("Channels"), self.taps()
        options = []
        for pe in divisors(c):
            for simd in divisors(k) if pe == c else (1,):
                for style in self.memory_styles:
                    options.append({"PE": pe, "SIMD": simd, "ram_style": style})
        return options

    def cycles(self) -> int:
        c, k = self.get("Channels"), self.taps()
        return self.pixels() * (k // self.get("SIMD")) * (c // self.get("PE"))

    # -- estimates ---------------------------------------------------------------
    def _memory_style(self, depth: int, width: int) -> str:
        style = self.get("ram_style")
        if style != "auto":
            return style
        return "distributed" if depth <= 64 or depth * width < 4096 else "block"

    def resources(self) -> dict[str, float]:
        prm = self.rtl_parameters()
        pe, simd = prm["PE"], prm["SIMD"]
        c, k = prm["C"], prm["K"]
        wbits, abits, acc = prm["WBITS"], prm["ABITS"], prm["ACCBITS"]
        levels, obits = prm["THRESHOLDS"], prm["OBITS"]
        cf, kf = c // pe, k // simd
        depth = cf * kf
        counter_bits = clog2(cf) + clog2(kf) + clog2(depth)
        lut = VVAU_LUT["base"] + VVAU_LUT["counter_bit"] * counter_bits
        ff = 8 + counter_bits + pe * simd * abits
        bram = 0.0
        width = pe * simd * wbits
        words = self.weight_words_bits()
        rom = rom_profile(words) if depth > 1 else None
        if rom is not None and rom_in_block_ram(depth, rom.nonconst,
                                                self._memory_style(depth, width)):
            bram += bram_mapping(depth, rom.nonconst)[1]
        elif rom is not None:
            lut += VVAU_LUT["rom_piece16"] * rom.pieces16
            ff += rom.distinct
        lanes = pe * simd
        ax = abits + (0 if prm["A_SIGNED"] else 1)
        wx = wbits + (0 if prm["W_SIGNED"] else 1)
        if prm["A_BIPOLAR"] or prm["W_BIPOLAR"]:
            lane = VVAU_LUT["lane_bit"] * (wx if prm["A_BIPOLAR"] else ax)
        else:
            lane = VVAU_LUT["mult_bit"] * ax * wx
            if prm["A_SIGNED"]:
                lane += VVAU_LUT["signed_mult_bit"] * ax * wx
        lut += lanes * lane
        lut += pe * (VVAU_LUT["pe"] + VVAU_LUT["acc_bit"] * acc + VVAU_LUT["out_bit"] * obits)
        ff += pe * (2 * acc + 3 * obits)
        if cf > 1:
            lut += VVAU_LUT["acc_mem_bit"] * pe * acc * max(1, cf // 32)
        if levels:
            if cf > 1:
                lut += VVAU_LUT["compare_bit"] * pe * levels * acc
                tbits = int_bits(self.thresholds().reshape(cf, pe * levels)
                                 & ((1 << acc) - 1), acc)
                trom = rom_profile(tbits)
                if rom_in_block_ram(cf, trom.nonconst, "auto"):
                    bram += bram_mapping(cf, trom.nonconst)[1]
                else:
                    lut += VVAU_LUT["rom_piece16"] * trom.pieces16
                    ff += trom.distinct
            else:
                lut += VVAU_LUT["const_compare_bit"] * pe * levels * acc
        weight_bits = c * k * wbits
        return {"LUT": float(round(lut)), "FF": float(round(ff)), "BRAM_18K": float(bram),
                "URAM": 0.0, "DSP": 0.0,
                "BRAM_efficiency": weight_bits / (bram * BRAM18_BITS) if bram else 1.0,
                "URAM_efficiency": 1.0}

    def op_and_param_counts(self) -> dict[str, int]:
        c, k = self.get("Channels"), self.taps()
        idt, wdt = self.input_datatype(), self.weight_datatype()
        counts = {f"op_mac_{idt.name}_{wdt.name}": c * k * self.pixels(),
                  f"param_weight_{wdt.name}": c * k}
        t = self.thresholds()
        if t is not None:
            counts[f"param_threshold_INT{self.acc_bits()}"] = int(t.size)
        return counts

    # -- streams and code generation ---------------------------------------------
    def input_stream(self) -> StreamSpec:
        pe, simd = self.get("PE"), self.get("SIMD")
        total = self.pixels() * self.taps() * self.get("Channels")
        return StreamSpec(pe * simd, self.input_datatype(), total // (pe * simd))

    def output_stream(self) -> StreamSpec:
        pe = self.get("PE")
        return StreamSpec(pe, self.output_datatype(),
                          self.pixels() * self.get("Channels") // pe)

    def rtl_parameters(self) -> dict:
        wdt, idt, odt = self.weight_datatype(), self.input_datatype(), self.output_datatype()
        t = self.thresholds()
        acc = self.acc_bits()
        if t is None:
            acc = max(acc, odt.bitwidth())
            obits, bias, levels = acc, 0, 0
        else:
            levels, obits = t.shape[1], odt.bitwidth()
            bias = 0 if odt.name == "BIPOLAR" else int(self.get("out_bias"))
        return {"C": self.get("Channels"), "K": self.taps(), "PE": self.get("PE"),
                "SIMD": self.get("SIMD"), "WBITS": wdt.bitwidth(), "ABITS": idt.bitwidth(),
                "ACCBITS": acc, "W_SIGNED": int(wdt.signed() and wdt.name != "BIPOLAR"),
                "A_SIGNED": int(idt.signed() and idt.name != "BIPOLAR"),
                "W_BIPOLAR": int(wdt.name == "BIPOLAR"), "A_BIPOLAR": int(idt.name == "BIPOLAR"),
                "THRESHOLDS": levels, "OBITS": obits, "OUT_BIAS": bias}

    def _weight_order(self) -> np.ndarray:
        """Weights as the RTL's memory holds them: word kf*CF + cf, slot s*PE + p holds
        W[cf*PE + p, kf*SIMD + s] (the order the window's elements arrive in)."""
        pe, simd = self.get("PE"), self.get("SIMD")
        c, k = self.get("Channels"), self.taps()
        w = self.weights().reshape(c // pe, pe, k // simd, simd)  # [cf, p, kf, s]
        return w.transpose(2, 0, 3, 1).reshape((k // simd) * (c // pe), simd * pe)

    def weight_words_bits(self) -> np.ndarray:
        from dfx.packing import encode_elements

        wdt = self.weight_datatype()
        codes = encode_elements(self._weight_order(), wdt)
        return int_bits(codes, wdt.bitwidth())

    def generate_rtl(self, out_dir) -> RTLModule:
        from pathlib import Path

        from dfx.packing import join_codes, pack_words
        from dfx.plugins.rtlgen import write_memory, write_wrapper

        out_dir = Path(out_dir)
        prm = self.rtl_parameters()
        lanes = prm["PE"] * prm["SIMD"]
        wfile = write_memory(out_dir / f"{self.name}_weights.dat",
                             pack_words(self._weight_order(), self.weight_datatype(), lanes),
                             lanes * prm["WBITS"])
        files = [wfile]
        prm["WEIGHT_FILE"] = wfile.name
        if prm["THRESHOLDS"]:
            acc = prm["ACCBITS"]
            t = self.thresholds()
            tfile = write_memory(out_dir / f"{self.name}_thresholds.dat",
                                 join_codes(t & ((1 << acc) - 1), acc,
                                            prm["PE"] * t.shape[1]),
                                 prm["PE"] * t.shape[1] * acc)
            files.append(tfile)
            prm["THRESH_FILE"] = tfile.name
        else:
            prm["THRESH_FILE"] = ""
        depth = (prm["C"] // prm["PE"]) * (prm["K"] // prm["SIMD"])
        prm["RAM_STYLE"] = self._memory_style(depth, lanes * prm["WBITS"])
        wrapper = write_wrapper(out_dir, self.name, "dfx_vvau", prm, self.input_stream().width,
                                prm["PE"] * prm["OBITS"])
        return RTLModule(self.name, [wrapper, *files], ["dfx_vvau"])

    # -- conversion and sources ----------------------------------------------------
    @classmethod
    def match(cls, node, model, cfg):
        """A ``MatMul`` fed by a depthwise ``Im2Col`` (a block-diagonal weight matrix
        ``[(k, c), c]``), fused with the ``MultiThreshold`` after it."""
        from onnx import helper
        from qonnx.core.datatype import DataType

        from dfx.errors import UnsupportedNodeError
        from dfx.layers import HW_DOMAIN, Match
        from dfx.plugins.convert import node_attrs
        from dfx.plugins.datatypes import smallest_int_datatype

        if node.op_type != "MatMul" or model.get_initializer(node.input[1]) is None:
            return None
        producer = model.find_producer(node.input[0])
        if producer is None or producer.op_type != "Im2Col" or \
                not int(node_attrs(producer).get("depthwise", 0)):
            return None
        im2col = node_attrs(producer)
        kh, kw = (int(k) for k in im2col["kernel_size"])
        matrix = model.get_initializer(node.input[1])
        c = int(matrix.shape[1])
        k = kh * kw
        if matrix.shape[0] != k * c:
            return None
        blocks = matrix.reshape(k, c, c)
        diagonal = blocks[:, np.arange(c), np.arange(c)]  # [k, c]
        off = blocks.copy()
        off[:, np.arange(c), np.arange(c)] = 0
        if np.any(off != 0):
            raise UnsupportedNodeError(node.name, node.op_type,
                                       "a depthwise MatMul whose weights are not per channel")
        idt = model.get_tensor_datatype(node.input[0])
        if not idt.is_integer():
            raise UnsupportedNodeError(node.name, node.op_type,
                                       f"its input is {idt.name}, not an integer type")
        weights = np.ascontiguousarray(diagonal.T).astype(np.float32)  # [c, k]
        wmin, wmax = int(weights.min()), int(weights.max())
        wdt = (DataType["BIPOLAR"] if wmin >= -1 and wmax <= 1 and not (weights == 0).any()
               and wmin < 0 else smallest_int_datatype(wmin, wmax))
        w_name = f"{node.input[1]}_vvau"
        consumers = model.find_consumers(node.output[0]) or []
        mt = consumers[0] if len(consumers) == 1 else None
        fuse = (mt is not None and mt.op_type == "MultiThreshold"
                and not getattr(cfg, "standalone_thresholds", False))
        _, oh, ow, _ = model.get_tensor_shape(node.output[0])
        attrs = dict(Channels=c, Kernel=[kh, kw], Dim=[int(oh), int(ow)])
        inputs = [node.input[0], w_name]
        consumes = [node]
        if fuse:
            mt_attrs = node_attrs(mt)
            inputs.append(mt.input[1])
            output = mt.output[0]
            attrs.update(noActivation=0, out_scale=float(mt_attrs.get("out_scale", 1.0)),
                         out_bias=float(mt_attrs.get("out_bias", 0.0)))
            consumes.append(mt)
        else:
            output = node.output[0]
            attrs.update(noActivation=1)
        hw = helper.make_node(cls.op_type, inputs, [output], name=node.name, domain=HW_DOMAIN,
                              **attrs)
        hw.attribute.append(helper.make_attribute("dfx_weights", helper.make_tensor(
            w_name, 1, weights.shape, weights.reshape(-1).tolist())))
        hw.attribute.append(helper.make_attribute("dfx_weight_datatype", wdt.name))
        hw.attribute.append(helper.make_attribute("dfx_sparse_weights", node.input[1]))
        return Match(nodes=[hw], consumes=consumes)

    def converted(self) -> None:
        """Move the per-channel weights the match carried into an initializer, and
        annotate an accumulator output."""
        from onnx import numpy_helper
        from qonnx.core.datatype import DataType

        for i, attr in enumerate(list(self.node.attribute)):
            if attr.name == "dfx_weights":
                self.model.set_initializer(attr.t.name, numpy_helper.to_array(attr.t))
                del self.node.attribute[i]
                break
        for i, attr in enumerate(list(self.node.attribute)):
            if attr.name == "dfx_weight_datatype":
                self.model.set_tensor_datatype(self.node.input[1], DataType[attr.s.decode()])
                del self.node.attribute[i]
                break
        for i, attr in enumerate(list(self.node.attribute)):
            if attr.name == "dfx_sparse_weights":
                # the block-sparse matrix of the MatMul this node replaced, if unused now
                sparse = attr.s.decode()
                del self.node.attribute[i]
                if not any(sparse in n.input for n in self.model.graph.node):
                    for j, init in enumerate(self.model.graph.initializer):
                        if init.name == sparse:
                            del self.model.graph.initializer[j]
                            break
                break
        self.memo.clear()
        if self.get("noActivation"):
            self.model.set_tensor_datatype(self.node.output[0],
                                           DataType[f"INT{self.acc_bits()}"])

    @classmethod
    def rtl_sources(cls):
        from dfx.plugins.rtlgen import RTL_LIBRARY

        return [RTL_LIBRARY / "dfx_vvau.v"]
