// Minimal SVG scatter/line plots, so the C++ commands write a picture without a plotting stack.
// One panel per call; axes with ticks and labels (log axes through the tested log_axis_ticks).
#pragma once

#include <string>
#include <vector>

namespace bidsim {

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;
  std::string color = "#1f77b4";
  bool lines = false;    // connect points in order
  bool markers = true;
  double radius = 3.5;
};

struct PlotPanel {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  bool log_y = false;
};

// One labelled tick of an axis: `position` in axis units (log10 of the value on a log axis).
struct AxisTick {
  double position;
  std::string label;
};

// Ticks of a log10 axis covering [lo, hi] (log10 units): whole decades when the range holds at
// least two (every k-th decade when it holds many), else 1-2-5 (or 1..9) multiples of a power of 10,
// else linear ticks of the values. Labels are the values themselves ("0.01", "500", "1e-05"), never
// fractional exponents.
std::vector<AxisTick> log_axis_ticks(double lo, double hi);

// Panels side by side in one SVG document.
std::string svg_plot(const std::vector<PlotPanel>& panels, int panel_width = 460, int panel_height = 340);

}  // namespace bidsim
