#!/usr/bin/env python3
"""Trims a fuzz corpus to at most LIMIT files, keeping the ones that cover the most edges.

`cargo fuzz cmin` keeps every file that adds a coverage feature, which can be more files than
the repository should carry. This reads a libFuzzer merge control file (made with
`-merge=1 -use_counters=0 -merge_control_file=CTL`), picks files greedily by the edges they
add (smaller file first on ties), and deletes the rest. Prints how much coverage was kept.

usage: trim_corpus.py CTL LIMIT
"""
import os
import sys

ctl, limit = sys.argv[1], int(sys.argv[2])
lines = open(ctl).read().split("\n")
count = int(lines[0])
files = lines[2 : 2 + count]
cov = {}
for line in lines[2 + count :]:
    parts = line.split()
    if parts and parts[0] == "COV":
        cov[int(parts[1])] = set(parts[2:])
universe = set().union(*cov.values())
left, keep = set(universe), []
while left and len(keep) < limit:
    best = max(cov, key=lambda i: (len(cov[i] & left), -os.path.getsize(files[i])))
    keep.append(best)
    left -= cov[best]
kept = {files[i] for i in keep}
for f in files:
    if f not in kept:
        os.remove(f)
covered = len(universe) - len(left)
print(f"{len(kept)} of {count} files kept, {covered} of {len(universe)} edges "
      f"({100 * covered / len(universe):.1f}%)")
