"""Bound a composed YAML node graph before anything walks it: cycles, depth, expansion.

`yaml.compose` resolves an alias to the very node its anchor names, so the "tree" is a
graph: `a: &a [*a]` contains itself, and ten lines of anchors can stand for millions of
values. This walk is iterative and visits each distinct node once (a visited set, not
recursion), so an 11-byte cycle or a 1 MiB nest costs no more than the text's own size.
"""

from __future__ import annotations

from collections.abc import Iterator

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from console.definition.limits import MAX_DEPTH, MAX_DOCUMENT_BYTES


class GraphProblem(Exception):
    """Why the graph cannot be accepted, and the node to blame (for an alias: the
    collection that contains it, since an alias has no node of its own)."""

    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value
    else:
        yield from node.value


def _span(node: Node) -> int:
    start, end = node.start_mark, node.end_mark
    if start is None or end is None:
        return 0
    return max(int(end.index) - int(start.index), 0)


class _Frame:
    """A collection being walked: its remaining children and what is known so far."""

    __slots__ = ("children", "depth", "extra", "height", "node")

    def __init__(self, node: Node, depth: int) -> None:
        self.node = node
        self.children = _children(node)
        self.depth = depth
        self.height = 0  # the tallest child's height, in collections
        self.extra = 0  # characters the aliases inside this node add when expanded


def check_depth(root: Node) -> None:
    """Raise GraphProblem for nesting deeper than MAX_DEPTH (a graph without aliases)."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise GraphProblem(f"the document is nested more than {MAX_DEPTH} levels deep", node)
        depth += 1
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if not isinstance(value, ScalarNode):
                    stack.append((value, depth))
                if not isinstance(key, ScalarNode):
                    stack.append((key, depth))
        elif isinstance(node, SequenceNode):
            stack.extend((item, depth) for item in node.value if not isinstance(item, ScalarNode))


def check_graph(root: Node, text_length: int) -> None:
    """Raise GraphProblem for a recursive alias, nesting deeper than MAX_DEPTH, or aliases
    that expand the text beyond MAX_DOCUMENT_BYTES.

    Walked in document order, the first time a node is met is where it is written (an
    anchor comes before its aliases), and every later meeting is an alias. The expanded
    size is the text's length plus, for each alias, the expanded size of what it names.
    """
    if isinstance(root, ScalarNode):
        return
    # Finished nodes: (height in collections, expanded size in characters).
    finished: dict[Node, tuple[int, int]] = {}
    open_nodes: set[Node] = {root}
    budget = MAX_DOCUMENT_BYTES - text_length  # characters aliases may still add
    stack = [_Frame(root, 1)]
    while stack:
        frame = stack[-1]
        child = next(frame.children, None)
        if child is None:
            stack.pop()
            open_nodes.discard(frame.node)
            height = frame.height + 1
            finished[frame.node] = (height, _span(frame.node) + frame.extra)
            if stack:
                stack[-1].height = max(stack[-1].height, height)
            continue
        if child in open_nodes:
            raise GraphProblem(
                "a recursive alias: an alias in this node names the node itself "
                "or one that contains it",
                frame.node,
            )
        seen = finished.get(child)
        if seen is None and isinstance(child, ScalarNode):
            finished[child] = (0, _span(child))
            continue
        if seen is not None:  # an alias of a node written earlier
            height, size = seen
            if frame.depth + height > MAX_DEPTH:
                raise GraphProblem(
                    f"an alias in this node nests the document more than {MAX_DEPTH} levels deep",
                    frame.node,
                )
            frame.height = max(frame.height, height)
            frame.extra += size
            budget -= size
            if budget < 0:
                raise GraphProblem(
                    "the document expands, through the aliases here and before, to more "
                    f"than {MAX_DOCUMENT_BYTES:,} characters (the 1 MiB limit of a definition)",
                    frame.node,
                )
            continue
        if frame.depth + 1 > MAX_DEPTH:
            raise GraphProblem(f"the document is nested more than {MAX_DEPTH} levels deep", child)
        open_nodes.add(child)
        stack.append(_Frame(child, frame.depth + 1))
