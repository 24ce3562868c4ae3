// SVG rendering of PlotPanels: linear (or log-y) axes from the data range with "nice" ticks.
#include "tools/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace bidsim {

namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

// Tick positions covering [lo, hi] with a 1-2-5 step.
std::vector<double> nice_ticks(double lo, double hi) {
  const double span = hi - lo;
  const double raw = span / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double f : {1.0, 2.0, 5.0, 10.0})
    if (raw <= f * mag) { step = f * mag; break; }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) ticks.push_back(std::fabs(t) < 1e-12 * span ? 0.0 : t);
  return ticks;
}

std::string fmt(double v) {
  std::ostringstream o;
  o.precision(3);
  o << v;
  return o.str();
}

// A tick value as a short label: plain decimals from 0.001 to 10^6, exponent notation beyond.
std::string value_label(double v) {
  char buf[32];
  const double a = std::fabs(v);
  std::snprintf(buf, sizeof buf, (a != 0 && (a < 1e-3 || a >= 1e6)) ? "%.3g" : "%.6g", v);
  return buf;
}

}  // namespace

std::vector<AxisTick> log_axis_ticks(double lo, double hi) {
  std::vector<AxisTick> ticks;
  if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  const double eps = 1e-9 * std::max(1.0, hi - lo);
  const int first = static_cast<int>(std::ceil(lo - eps)), last = static_cast<int>(std::floor(hi + eps));
  if (last - first + 1 >= 2) {
    const int stride = std::max(1, (last - first + 1 + 6) / 7);  // at most ~7 decade ticks
    for (int d = first; d <= last; d += stride) ticks.push_back({double(d), value_label(std::pow(10.0, d))});
    return ticks;
  }
  for (const std::vector<double>& mantissas : {std::vector<double>{1, 2, 5}, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    ticks.clear();
    for (int d = static_cast<int>(std::floor(lo)) - 1; d <= static_cast<int>(std::ceil(hi)); ++d)
      for (double m : mantissas) {
        const double value = m * std::pow(10.0, d), position = std::log10(value);
        if (position >= lo - eps && position <= hi + eps) ticks.push_back({position, value_label(value)});
      }
    if (ticks.size() >= 2) return ticks;
  }
  ticks.clear();  // less than a factor of ~1.25 between the ends: linear ticks of the values
  for (double value : nice_ticks(std::pow(10.0, lo), std::pow(10.0, hi)))
    if (value > 0) ticks.push_back({std::log10(value), value_label(value)});
  return ticks;
}

std::string svg_plot(const std::vector<PlotPanel>& panels, int W, int H) {
  std::ostringstream svg;
  const int total_w = W * static_cast<int>(panels.size());
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << total_w << "' height='" << H
      << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n";
  for (std::size_t k = 0; k < panels.size(); ++k) {
    const PlotPanel& p = panels[k];
    const double ox = static_cast<double>(k) * W;
    const double left = ox + 62, right = ox + W - 14, top = 28, bottom = H - 44;
    double xlo = HUGE_VAL, xhi = -HUGE_VAL, ylo = HUGE_VAL, yhi = -HUGE_VAL;
    auto ty = [&](double y) { return p.log_y ? std::log10(std::max(y, 1e-300)) : y; };
    for (const PlotSeries& s : p.series) {
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (p.log_y && s.y[i] <= 0)) continue;
        xlo = std::min(xlo, s.x[i]); xhi = std::max(xhi, s.x[i]);
        ylo = std::min(ylo, ty(s.y[i])); yhi = std::max(yhi, ty(s.y[i]));
      }
    }
    if (!(xlo <= xhi)) { xlo = 0; xhi = 1; ylo = 0; yhi = 1; }
    if (xhi - xlo < 1e-12) { xlo -= 0.5; xhi += 0.5; }
    if (yhi - ylo < 1e-12) { ylo -= 0.5; yhi += 0.5; }
    const double xpad = 0.04 * (xhi - xlo), ypad = 0.06 * (yhi - ylo);
    xlo -= xpad; xhi += xpad; ylo -= ypad; yhi += ypad;
    auto X = [&](double x) { return left + (x - xlo) / (xhi - xlo) * (right - left); };
    auto Y = [&](double y) { return bottom - (ty(y) - ylo) / (yhi - ylo) * (bottom - top); };

    svg << "<text x='" << (left + right) / 2 << "' y='16' text-anchor='middle' font-size='13'>" << escape(p.title) << "</text>\n";
    svg << "<rect x='" << left << "' y='" << top << "' width='" << right - left << "' height='" << bottom - top
        << "' fill='none' stroke='#444'/>\n";
    for (double t : nice_ticks(xlo, xhi)) {
      svg << "<line x1='" << X(t) << "' y1='" << bottom << "' x2='" << X(t) << "' y2='" << bottom + 4 << "' stroke='#444'/>"
          << "<text x='" << X(t) << "' y='" << bottom + 16 << "' text-anchor='middle'>" << fmt(t) << "</text>\n";
    }
    std::vector<AxisTick> y_ticks;
    if (p.log_y) {
      y_ticks = log_axis_ticks(ylo, yhi);
    } else {
      for (double t : nice_ticks(ylo, yhi)) y_ticks.push_back({t, fmt(t)});
    }
    for (const AxisTick& t : y_ticks) {
      const double yy = bottom - (t.position - ylo) / (yhi - ylo) * (bottom - top);
      svg << "<line x1='" << left - 4 << "' y1='" << yy << "' x2='" << left << "' y2='" << yy << "' stroke='#444'/>"
          << "<text x='" << left - 6 << "' y='" << yy + 4 << "' text-anchor='end'>" << escape(t.label) << "</text>\n";
    }
    svg << "<text x='" << (left + right) / 2 << "' y='" << H - 10 << "' text-anchor='middle'>" << escape(p.x_label) << "</text>\n";
    svg << "<text transform='translate(" << ox + 14 << "," << (top + bottom) / 2 << ") rotate(-90)' text-anchor='middle'>"
        << escape(p.y_label) << "</text>\n";
    double legend_y = top + 14;
    for (const PlotSeries& s : p.series) {
      if (s.lines && s.x.size() > 1) {
        svg << "<polyline fill='none' stroke='" << s.color << "' stroke-width='1.5' points='";
        for (std::size_t i = 0; i < s.x.size(); ++i)
          if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!p.log_y || s.y[i] > 0)) svg << X(s.x[i]) << "," << Y(s.y[i]) << " ";
        svg << "'/>\n";
      }
      if (s.markers)
        for (std::size_t i = 0; i < s.x.size(); ++i)
          if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!p.log_y || s.y[i] > 0))
            svg << "<circle cx='" << X(s.x[i]) << "' cy='" << Y(s.y[i]) << "' r='" << s.radius << "' fill='" << s.color
                << "' fill-opacity='0.8'/>\n";
      if (!s.label.empty()) {
        svg << "<rect x='" << right - 150 << "' y='" << legend_y - 8 << "' width='10' height='10' fill='" << s.color << "'/>"
            << "<text x='" << right - 135 << "' y='" << legend_y + 1 << "'>" << escape(s.label) << "</text>\n";
        legend_y += 15;
      }
    }
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace bidsim
