"""Layout of the lineage graph (inline SVG): one column per generation, edges parent → child.

Pure presentation of ``synthesis.selectors.sample_lineage`` output; no queries.
"""

from __future__ import annotations

from dataclasses import dataclass

COL_W, ROW_H, NODE_W, NODE_H, PAD = 260, 46, 230, 30, 10


@dataclass
class Node:
    pk: int
    code: str
    x: int
    y: int
    current: bool


@dataclass
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    label: str


def lineage_graph(sample, lineage: dict) -> dict:
    columns: dict[int, list] = {0: [sample]}
    for s, depth in lineage["ancestors"]:
        columns.setdefault(-depth, []).append(s)
    for s, depth in lineage["descendants"]:
        columns.setdefault(depth, []).append(s)
    order = sorted(columns)
    nodes: dict[int, Node] = {}
    for col, depth in enumerate(order):
        for row, s in enumerate(columns[depth]):
            if s.pk in nodes:
                continue
            nodes[s.pk] = Node(s.pk, s.code, PAD + col * COL_W, PAD + row * ROW_H,
                               s.pk == sample.pk)
    edges = []
    for link in lineage["edges"]:
        a, b = nodes.get(link.parent_id), nodes.get(link.child_id)
        if a and b:
            edges.append(Edge(a.x + NODE_W, a.y + NODE_H // 2, b.x, b.y + NODE_H // 2,
                              link.get_process_display()))
    rows = max(len(v) for v in columns.values())
    return {"nodes": list(nodes.values()), "edges": edges, "node_w": NODE_W, "node_h": NODE_H,
            "width": PAD * 2 + (len(order) - 1) * COL_W + NODE_W,
            "height": PAD * 2 + (rows - 1) * ROW_H + NODE_H, "single": len(nodes) == 1}
