// Axis ticks of the SVG plots (tools/svg_plot.cpp). Log axes once labelled ticks "1e-0.3": every
// label must now be the tick's value itself, readable as a number equal to 10^position.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "tools/svg_plot.hpp"

namespace {

// Every label parses completely as a number equal to 10^position; positions rise inside [lo, hi].
void check_log_ticks(double lo, double hi, std::size_t at_least) {
  INFO("range [" << lo << ", " << hi << "]");
  const std::vector<bidsim::AxisTick> ticks = bidsim::log_axis_ticks(lo, hi);
  CHECK(ticks.size() >= at_least);
  CHECK(ticks.size() <= 12);
  for (std::size_t k = 0; k < ticks.size(); ++k) {
    const bidsim::AxisTick& t = ticks[k];
    INFO("tick " << k << ": " << t.position << " '" << t.label << "'");
    char* end = nullptr;
    const double value = std::strtod(t.label.c_str(), &end);
    CHECK(*end == '\0');
    CHECK(std::fabs(value - std::pow(10.0, t.position)) <= 1e-9 * std::pow(10.0, t.position));
    CHECK(t.position >= lo - 1e-9);
    CHECK(t.position <= hi + 1e-9);
    if (k > 0) CHECK(t.position > ticks[k - 1].position);
  }
}

std::vector<std::string> labels(double lo, double hi) {
  std::vector<std::string> out;
  for (const bidsim::AxisTick& t : bidsim::log_axis_ticks(lo, hi)) out.push_back(t.label);
  return out;
}

}  // namespace

TEST_CASE("log axis: whole decades are labelled by their value", "[plot]") {
  CHECK(labels(-3.2, 0.4) == std::vector<std::string>{"0.001", "0.01", "0.1", "1"});
  CHECK(labels(0, 3) == std::vector<std::string>{"1", "10", "100", "1000"});
  CHECK(labels(-7.5, -5.5) == std::vector<std::string>{"1e-07", "1e-06"});
}

TEST_CASE("log axis: many decades are thinned, never fractional exponents", "[plot]") {
  const std::vector<std::string> wide = labels(-12, 2);
  CHECK(wide.size() <= 8);
  CHECK(wide.front() == "1e-12");
  for (const std::string& label : wide) CHECK(label.find("e-0.") == std::string::npos);
}

TEST_CASE("log axis: less than a decade uses 1-2-5 or 1..9 multiples", "[plot]") {
  // 10^-0.3 = 0.50 to 10^0.2 = 1.58: the range that printed "1e-0.3" before.
  CHECK(labels(-0.302, 0.2) == std::vector<std::string>{"0.5", "1"});
  CHECK(labels(0.35, 0.9) == std::vector<std::string>{"3", "4", "5", "6", "7"});
}

TEST_CASE("log axis: property over generated ranges", "[plot][property]") {
  for (int k = 0; k < 400; ++k) {
    const double lo = -15.0 + 0.0731 * k;       // deterministic spread of starts
    const double span = 0.02 + 0.049 * (k % 97); // from a 5% range to ~5 decades
    check_log_ticks(lo, lo + span, 1);
  }
  CHECK(bidsim::log_axis_ticks(1, 0).empty());
  CHECK(bidsim::log_axis_ticks(NAN, 1).empty());
}
