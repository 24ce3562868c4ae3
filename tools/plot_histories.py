#!/usr/bin/env python3
"""Draws exploitability vs iteration of several `bidsim mesob --out` runs (their history.csv) in one
SVG with a log y axis. Plain python3, no plotting library (the project's machines have none).
usage: plot_histories.py OUT.svg TITLE RUN/history.csv..."""
import csv, math, os, sys

out, title, files = sys.argv[1], sys.argv[2], sys.argv[3:]
colors = ["#1f77b4", "#d62728", "#000000", "#2ca02c", "#9467bd", "#ff7f0e"]
series = []
for f in files:
    rows = list(csv.DictReader(open(f)))
    pts = [(float(r["iteration"]), float(r["exploitability"])) for r in rows if float(r["exploitability"]) > 0]
    series.append((os.path.basename(os.path.dirname(f)).replace("solver-", ""), pts))
W, H, L, R, T, B = 640, 400, 70, 170, 30, 50
xs = [x for _, p in series for x, _ in p] or [0, 1]
ys = [math.log10(y) for _, p in series for _, y in p] or [0, 1]
x0, x1, y0, y1 = min(xs), max(xs), math.floor(min(ys)), math.ceil(max(ys))
X = lambda x: L + (x - x0) / max(x1 - x0, 1e-12) * (W - L - R)
Y = lambda y: H - B - (math.log10(y) - y0) / max(y1 - y0, 1e-12) * (H - T - B)
s = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' font-family='sans-serif' font-size='11'>",
     "<rect width='100%' height='100%' fill='white'/>",
     f"<text x='{(W - R + L) / 2}' y='18' text-anchor='middle' font-size='13'>{title}</text>",
     f"<rect x='{L}' y='{T}' width='{W - L - R}' height='{H - T - B}' fill='none' stroke='#444'/>"]
for e in range(int(y0), int(y1) + 1):
    yy = H - B - (e - y0) / max(y1 - y0, 1e-12) * (H - T - B)
    s.append(f"<text x='{L - 6}' y='{yy + 4}' text-anchor='end'>1e{e}</text><line x1='{L}' y1='{yy}' x2='{W - R}' y2='{yy}' stroke='#ddd'/>")
for k in range(6):
    x = x0 + k * (x1 - x0) / 5
    s.append(f"<text x='{X(x)}' y='{H - B + 16}' text-anchor='middle'>{x:.0f}</text>")
s.append(f"<text x='{(W - R + L) / 2}' y='{H - 12}' text-anchor='middle'>iteration</text>")
s.append(f"<text transform='translate(16,{(H - B + T) / 2}) rotate(-90)' text-anchor='middle'>exploitability (eq. 5)</text>")
for i, (name, pts) in enumerate(series):
    c = colors[i % len(colors)]
    s.append(f"<polyline fill='none' stroke='{c}' stroke-width='1.6' points='" + " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts) + "'/>")
    s.append(f"<rect x='{W - R + 12}' y='{T + 8 + 16 * i}' width='10' height='10' fill='{c}'/><text x='{W - R + 27}' y='{T + 17 + 16 * i}'>{name}</text>")
s.append("</svg>")
open(out, "w").write("\n".join(s) + "\n")
