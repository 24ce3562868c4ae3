// Minimal SVG scatter/line plots, so results come with a picture without a plotting stack
// (the project's machines have no matplotlib). One panel per call; axes with ticks and labels.
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

// Panels side by side in one SVG document.
std::string svg_plot(const std::vector<PlotPanel>& panels, int panel_width = 460, int panel_height = 340);

}  // namespace bidsim
