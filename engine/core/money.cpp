// The load-time range check of exact money (money.hpp): a scenario is refused when one of its sums
// could leave the int64 range, so no step ever has to check for overflow.
#include "engine/core/money.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "engine/core/config_types.hpp"
#include "engine/core/errors.hpp"
#include "engine/core/physics.hpp"

namespace bidsim {
namespace {

std::string number_text(double x) {
  std::ostringstream out;
  out.precision(15);
  out << x;
  return out.str();
}

[[noreturn]] void refuse(const Scenario& s, const std::string& key, double got, const std::string& expected) {
  throw ScenarioError(s.source + ": " + key + ": got " + number_text(got) + ", expected " + expected);
}

// Largest mean-1 noise factor procedural_noise_of() can return: the noise is monotone in its word,
// so the extreme is at one end of the 32-bit range.
double max_procedural_noise(const ProceduralValues& p) {
  const float sigma = static_cast<float>(p.sigma);
  auto noise = [&](std::uint32_t word) -> double {
    switch (p.distribution) {
      case ProceduralDistribution::uniform: return procedural_noise_of<ProceduralDistribution::uniform>(sigma, word);
      case ProceduralDistribution::exponential:
        return procedural_noise_of<ProceduralDistribution::exponential>(sigma, word);
      case ProceduralDistribution::lognormal:
      default: return procedural_noise_of<ProceduralDistribution::lognormal>(sigma, word);
    }
  };
  return std::max(noise(0u), noise(0xffffffffu));
}

// Largest value an agent can have for one impression, and the key that sets it.
double max_value(const Scenario& s, std::string& key) {
  switch (s.values.model) {
    case ValueModel::auctionnet: key = "values.model"; return 1.0;  // pValues are clipped to [0, 1]
    case ValueModel::file: {
      key = "values.file";
      const auto& v = s.values.file.value;
      return v.empty() ? 0.0 : static_cast<double>(*std::max_element(v.begin(), v.end()));
    }
    case ValueModel::procedural:
    default: {
      key = "agents.value_scale";
      const auto& scale = s.agents.value_scale;
      const double largest_scale = scale.empty() ? 0.0 : *std::max_element(scale.begin(), scale.end());
      const double cross = std::max(1.0, s.values.procedural.cross_category);
      // The float product can round up by one ulp: allow for it.
      return largest_scale * cross * max_procedural_noise(s.values.procedural) * (1.0 + 1e-6);
    }
  }
}

}  // namespace

double max_slot_sales_per_episode(const Scenario& s) {
  double impressions = 0.0;
  if (s.values.model == ValueModel::file) {
    for (int m : s.values.file.impressions) impressions += m;
  } else if (s.impressions.profile.empty()) {
    impressions = static_cast<double>(s.impressions.per_step) * s.market.steps;
  } else {
    // Per-step counts are truncated shares of `total` (jitter renormalizes to the same total).
    impressions = std::ceil(s.impressions.total) + s.market.steps;
  }
  return impressions * s.mechanism.slots;
}

void check_money_range(const Scenario& s) {
  const auto& budget = s.agents.budget;
  for (std::size_t i = 0; i < budget.size(); ++i)
    if (std::isfinite(budget[i]) && budget[i] > kMaxBudget)
      refuse(s, "agents.budget[" + std::to_string(i) + "]", budget[i],
             "at most 2^38 = " + number_text(kMaxBudget) + " (exact money: int64 ticks of 2^-24), or .inf");
  std::string value_key;
  const double value = max_value(s, value_key);
  if (!(value <= kMaxAmount))
    refuse(s, value_key, value,
           "values up to at most 65536 money units (one exact-money amount is at most 2^40 ticks of 2^-24)");
  const double sales = max_slot_sales_per_episode(s);
  if (sales > static_cast<double>(kMaxSlotSalesPerEpisode))
    refuse(s, "impressions", sales,
           "at most 2^22 = 4194304 slot sales per episode (impressions per episode x mechanism.slots), so exact "
           "money sums of amounts up to 2^40 ticks stay below 2^62 (fewer steps or impressions)");
}

}  // namespace bidsim
