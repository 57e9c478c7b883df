"""The memory graph of one namespace, as plain networkx, plus the walks recall uses.

Nodes are catalog document ids ("t:" turns, "e:" events, "k:" knowledge,
"s:" summaries) and entities ("n:"). Edges come from the store (derived_from,
mentions, part_of, supersedes, relates, next) plus `next` between consecutive
turns of a session. Algorithms are plain functions over the graph, networkx-style. It lives in
recall/ because recall is what builds and walks it; ingest writes the edges to the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx

from plugmem.index.catalog import Doc
from plugmem.model import Edge, Entity

# how strongly activation flows along each kind of edge
EDGE_WEIGHT = {
    "next": 0.6,
    "part_of": 0.8,
    "derived_from": 1.0,
    "mentions": 0.5,
    "supersedes": 0.7,
    "relates": 0.7,
}


def build_graph(turns: Iterable[Doc], edges: Iterable[Edge], entities: Iterable[Entity]) -> nx.Graph:
    g = nx.Graph()
    prev: Doc | None = None
    for d in turns:
        g.add_node(d.id, kind="turn")
        if prev is not None and prev.session_id == d.session_id:
            g.add_edge(prev.id, d.id, kind="next", w=EDGE_WEIGHT["next"])
        prev = d
    for ent in entities:
        g.add_node("n:" + ent.id, kind="entity", name=ent.name, aliases=list(ent.aliases))
    for e in edges:
        w = EDGE_WEIGHT.get(e.kind, 0.5) * e.weight
        if g.has_edge(e.src, e.dst):
            g[e.src][e.dst]["w"] = max(g[e.src][e.dst]["w"], w)
        else:
            g.add_edge(e.src, e.dst, kind=e.kind, label=e.label, w=w)
    return g


def personalized_pagerank(
    g: nx.Graph, seeds: Mapping[str, float], *, restart: float = 0.3, iters: int = 12, hops: int = 2
) -> dict[str, float]:
    """Random walk with restart from `seeds`, on the `hops`-neighbourhood only.

    Local power iteration: a few ms on the neighbourhood where a full-graph PageRank
    would cost tens of ms per query.
    """
    start = {n: w for n, w in seeds.items() if n in g and w > 0}
    if not start:
        return {}
    total = sum(start.values())
    p0 = {n: w / total for n, w in start.items()}
    nodes = set(p0)
    frontier = set(p0)
    for _ in range(hops):
        nxt: set[str] = set()
        for n in frontier:
            nxt.update(g.neighbors(n))
        nxt -= nodes
        nodes |= nxt
        frontier = nxt
    wsum = {n: sum(g[n][m]["w"] for m in g.neighbors(n) if m in nodes) for n in nodes}
    p = dict(p0)
    for _ in range(iters):
        q = {n: restart * p0.get(n, 0.0) for n in nodes}
        for n, mass in p.items():
            if mass == 0.0 or wsum.get(n, 0.0) == 0.0:
                q[n] += (1 - restart) * mass
                continue
            share = (1 - restart) * mass / wsum[n]
            for m in g.neighbors(n):
                if m in nodes:
                    q[m] += share * g[n][m]["w"]
        p = q
    return p


def entity_nodes_in(g: nx.Graph, text: str) -> list[str]:
    """Entity nodes whose name or an alias occurs in `text` as whole words."""
    low = f" {text.lower()} "
    out = []
    for n, data in g.nodes(data=True):
        if data.get("kind") != "entity":
            continue
        names = [data.get("name", ""), *data.get("aliases", [])]
        if any(
            nm and f" {nm.lower()} " in low.replace("?", " ").replace("'s", " ").replace(",", " ")
            for nm in names
        ):
            out.append(n)
    return out
