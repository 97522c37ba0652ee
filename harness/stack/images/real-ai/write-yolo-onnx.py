#!/usr/bin/env python3
"""Writes a YOLO-shaped ONNX detector with synthetic (random) weights.

Input `images` [1,3,640,640] float32 (RGB, 0..1, letterboxed), output `output0` [1,84,8400]
in the layout of an Ultralytics YOLOv8/YOLO11 export: rows 0-3 are box centre x, centre y,
width, height in input pixels, rows 4-83 the 80 COCO class scores (after the sigmoid), one
column per anchor of the three strides 8, 16, 32 (80x80 + 40x40 + 20x20 = 8400). A decoder
that reads this model reads a real export too.

The backbone is a stack of 3x3 convolutions with SiLU, halving the resolution five times, with
one 3x3 + 1x1 head per stride: about the compute of the small YOLO models (printed, and stored
as metadata `gflops`). The weights are random; so that the detections look like a camera's
(a few objects, overlapping candidates for NMS to remove) the class scores are a fixed prior
per anchor plus a small image-dependent term.

    write-yolo-onnx.py OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 640
CLASSES = 80
STRIDES = (8, 16, 32)
# (out_channels, stride) per backbone conv; stride-8/16/32 features are taken where marked.
BACKBONE = [(16, 2), (32, 2), (32, 1), (32, 1), (64, 2), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2), (256, 1), (256, 1)]
TAPS = {6: 8, 9: 16, 12: 32}
# Planted objects: (stride, grid x, grid y, class, prior logit). Neighbouring anchors of the same
# object are planted too, a little weaker, as a real model's are.
OBJECTS = [(32, 9, 11, 0, 2.6), (16, 8, 28, 2, 1.6), (16, 30, 26, 2, 0.9), (32, 16, 14, 16, -0.2)]


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.macs, self.n = [], [], 0, 0

    def name(self, prefix):
        self.n += 1
        return "%s_%d" % (prefix, self.n)

    def const(self, array, prefix="c"):
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, rng, x, cin, cout, k, stride, hw, act=True, gain=1.0):
        std = gain * np.sqrt(2.0 / (cin * k * k))
        w = self.const((rng.standard_normal((cout, cin, k, k)) * std).astype(np.float32), "w")
        b = self.const(np.zeros(cout, dtype=np.float32), "b")
        pad = k // 2
        y = self.op("Conv", [x, w, b], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)
        out_hw = hw // stride
        self.macs += out_hw * out_hw * cout * cin * k * k
        return (self.op("Mul", [y, self.op("Sigmoid", [y])]) if act else y), out_hw


def priors():
    """Class logit prior per anchor [80, 8400]: -9 except the planted objects."""
    prior = np.full((CLASSES, sum((SIZE // s) ** 2 for s in STRIDES)), -9.0, dtype=np.float32)
    offsets, at = {}, 0
    for s in STRIDES:
        offsets[s] = at
        at += (SIZE // s) ** 2
    for stride, gx, gy, cls, logit in OBJECTS:
        g = SIZE // stride
        for dx, dy, drop in ((0, 0, 0.0), (1, 0, 1.2), (0, 1, 1.5)):
            prior[cls, offsets[stride] + (gy + dy) * g + gx + dx] = logit - drop
    return prior


def head(g, rng, feat, c, hw, stride):
    """3x3 conv + 1x1 to 84 rows; boxes decoded against the grid, scores through a sigmoid."""
    y, _ = g.conv(rng, feat, c, c, 3, 1, hw)
    raw, _ = g.conv(rng, y, c, 4 + CLASSES, 1, 1, hw, act=False)
    flat = g.op("Reshape", [raw, g.const(np.array([1, 4 + CLASSES, hw * hw], dtype=np.int64))])
    bounded = g.op("Tanh", [flat])
    xs, ys = np.meshgrid(np.arange(hw, dtype=np.float32), np.arange(hw, dtype=np.float32))
    centre = np.stack([xs.ravel(), ys.ravel()])[None] + 0.5
    xy = g.op("Slice", [bounded, g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64)), g.const(np.array([1], np.int64))])
    xy = g.op("Mul", [g.op("Add", [xy, g.const(centre.astype(np.float32))]), g.const(np.float32(stride))])
    wh = g.op("Slice", [bounded, g.const(np.array([2], np.int64)), g.const(np.array([4], np.int64)), g.const(np.array([1], np.int64))])
    # Box sides 2..8 strides: objects of the scale this stride looks for.
    wh = g.op("Mul", [g.op("Add", [g.op("Mul", [wh, g.const(np.float32(3.0))]), g.const(np.float32(5.0))]), g.const(np.float32(stride))])
    cls = g.op("Slice", [bounded, g.const(np.array([4], np.int64)), g.const(np.array([4 + CLASSES], np.int64)), g.const(np.array([1], np.int64))])
    return g.op("Concat", [xy, wh], axis=1), cls


def build():
    rng = np.random.default_rng(20261201)
    g = Graph()
    x, c, hw, feats = "images", 3, SIZE, {}
    for i, (cout, stride) in enumerate(BACKBONE):
        x, hw = g.conv(rng, x, c, cout, 3, stride, hw)
        c = cout
        if i in TAPS:
            feats[TAPS[i]] = (x, c, hw)
    boxes, scores = [], []
    for s in STRIDES:
        b, cl = head(g, rng, *feats[s], s)
        boxes.append(b)
        scores.append(cl)
    box = g.op("Concat", boxes, axis=2)
    # Image-dependent term: up to +-0.6 logits on top of the prior.
    logits = g.op("Add", [g.op("Mul", [g.op("Concat", scores, axis=2), g.const(np.float32(0.6))]), g.const(priors()[None])])
    out = helper.make_node("Concat", [box, g.op("Sigmoid", [logits])], ["output0"], axis=1)
    graph = helper.make_graph(
        g.nodes + [out],
        "hsi-chaos-yolo-synthetic",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + CLASSES, 8400])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="hsi-chaos")
    model.ir_version = 8
    gflops = 2 * g.macs / 1e9
    for k, v in {"weights": "synthetic", "gflops": "%.2f" % gflops, "imgsz": str(SIZE), "names": "coco80", "layout": "yolov8"}.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model, gflops


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: write-yolo-onnx.py OUT.onnx\n")
        return 2
    model, gflops = build()
    onnx.save(model, argv[1])
    print("wrote %s: %.2f GFLOPs per 640x640 image (2 x MACs of the convolutions)" % (argv[1], gflops))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
