#!/usr/bin/env python3
"""Holds the sources to the layers CMake builds (cmake/layers.cmake writes <build>/layers.json).

Fails, naming file and line, when
  - a file includes a header of a library its own library does not link (an upward include),
  - two units (a folder's x.hpp + x.cpp) include each other, directly or round a longer circle,
  - the libraries' links form a circle,
  - the measurement (core, checks) links or includes a client library (libpq, libpqxx, hiredis,
    curl, httplib).
Tests (*_test.*, testing/) may include anything: they sit on top of what they test.
"""
import argparse
import json
import os
import re
import sys

CLIENT_LINKS = re.compile(r"PQXX|LIBPQ|HIREDIS|CURL|HTTPLIB", re.I)
CLIENT_HEADERS = re.compile(r"^(pqxx/|libpq-fe\.h|hiredis/|curl/|httplib\.h)")
MEASUREMENT = ("core", "checks")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def is_test(path):
    name = os.path.basename(path)
    return re.search(r"_test\.(cpp|hpp)$", name) or "/testing/" in f"/{path}"


def strongly_connected(graph):
    """Tarjan's algorithm; returns the components with more than one node."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--layers", required=True)
    args = parser.parse_args()
    layers = json.load(open(args.layers))
    errors = []

    internal = {}
    for layer, entry in layers.items():
        internal[layer] = set()
        for link in entry["links"]:
            match = re.fullmatch(r"firedrill(?:::|_)(\w+)", link)
            if match and match.group(1) in layers:
                internal[layer].add(match.group(1))
    for circle in strongly_connected(internal):
        errors.append(f"the libraries link in a circle: {' -> '.join(circle)}")

    def closure(layer, seen=None):
        seen = set() if seen is None else seen
        for below in internal[layer]:
            if below not in seen:
                seen.add(below)
                closure(below, seen)
        return seen

    below = {layer: closure(layer) for layer in layers}
    folder_layer = {}
    for layer, entry in layers.items():
        for folder in entry["folders"]:
            if folder in folder_layer and folder_layer[folder] != layer:
                errors.append(f"{folder}/ holds sources of two libraries: {folder_layer[folder]} and {layer}")
            folder_layer[folder] = layer

    for layer in MEASUREMENT:
        for lower in [layer, *below[layer]]:
            for link in layers[lower]["links"]:
                if CLIENT_LINKS.search(link):
                    errors.append(f"the measurement library {layer} links a client library ({link}, through {lower})")

    units = {}
    for folder, layer in sorted(folder_layer.items()):
        directory = os.path.join(args.source_dir, folder)
        for name in sorted(os.listdir(directory)):
            path = f"{folder}/{name}"
            if not name.endswith((".cpp", ".hpp")) or is_test(path):
                continue
            unit = f"{folder}/{os.path.splitext(name)[0]}"
            units.setdefault(unit, set())
            with open(os.path.join(directory, name), encoding="utf-8") as source:
                for number, line in enumerate(source, 1):
                    match = INCLUDE.match(line)
                    if not match:
                        continue
                    quoted, header = match.group(1) == '"', match.group(2)
                    if not quoted:
                        if layer in MEASUREMENT and CLIENT_HEADERS.match(header):
                            errors.append(f"{path}:{number}: the measurement ({layer}) includes a client library's <{header}>")
                        continue
                    header_folder = os.path.dirname(header)
                    header_layer = folder_layer.get(header_folder)
                    if header_layer is None:
                        errors.append(f"{path}:{number}: includes \"{header}\", which belongs to no library")
                        continue
                    if header_layer != layer and header_layer not in below[layer]:
                        errors.append(f"{path}:{number}: includes \"{header}\" of the {header_layer} library, "
                                      f"which {layer} does not link (an upward include)")
                    header_unit = os.path.splitext(header)[0]
                    if header_unit != unit:
                        units[unit].add(header_unit)
    for circle in strongly_connected(units):
        errors.append(f"these files include each other's headers (an include circle): {', '.join(circle)}")

    for error in errors:
        print(error)
    if errors:
        return 1
    print(f"{len(layers)} libraries, {len(units)} units: no upward include, no circle, no client below the measurement")
    return 0


if __name__ == "__main__":
    sys.exit(main())
