// The Python face of the market engine (pybind11): `bidsim._bidsim.Market` steps a Simulator with
// multipliers from NumPy and hands its state out as read-only NumPy views of the engine's own buffers.
// Thin on purpose: the engine owns every rule; Python conveniences (dict overrides, the vector and
// parallel environments, rollout reading) live in python/bidsim/*.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <dlpack/dlpack.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/errors.hpp"
#include "engine/core/impression_bids.hpp"
#include "engine/core/market_state.hpp"
#include "engine/core/money.hpp"
#include "engine/facade/policies.hpp"
#include "engine/facade/scenario.hpp"
#include "engine/facade/simulator.hpp"
#include "mesob/game.hpp"
#include "mesob/mesob_scenario.hpp"
#include "mesob/solvers.hpp"

namespace py = pybind11;

namespace bidsim::python {

namespace {

// A read-only NumPy array over `data` (row-major `shape`), kept alive by `owner` (the Market): the
// array is a view of the engine's buffer, never a copy.
template <typename T>
py::array readonly_view(const T* data, std::vector<py::ssize_t> shape, py::handle owner) {
  py::array_t<T> array(shape, data, owner);
  py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return std::move(array);
}

// The DLPack export of one device buffer (DLPack 0.6, the version numpy 1.24 and torch 1.13 take).
// The capsule keeps the Market alive until the consumer calls the deleter.
struct ExportedTensor {
  DLManagedTensor managed{};
  std::vector<std::int64_t> shape;
  PyObject* owner = nullptr;
};

DLDataType dlpack_dtype(DType dtype) {
  switch (dtype) {
    case DType::float32: return {kDLFloat, 32, 1};
    case DType::float64: return {kDLFloat, 64, 1};
    case DType::int32: return {kDLInt, 32, 1};
    case DType::int64: return {kDLInt, 64, 1};
  }
  throw std::logic_error("dlpack_dtype: unknown dtype");
}

class DeviceArray {
 public:
  // `host_memory`: the backend keeps its "device" buffers in host memory (the CUDA backend on the host
  // emulator); they are then exported as CPU memory so that NumPy can take them, else as kDLCUDA.
  DeviceArray(DeviceTensorView view, py::object owner, bool host_memory)
      : view_(std::move(view)), owner_(std::move(owner)), export_device_(host_memory ? kDLCPU : kDLCUDA) {}

  py::tuple dlpack_device() const {
    return py::make_tuple(static_cast<int>(export_device_), export_device_ == kDLCPU ? 0 : view_.device);
  }

  // `stream` follows the array API: the consumer's stream. The backend finished its work before the
  // view was taken (Market.device_array synchronizes), so no ordering is needed on either stream.
  py::capsule dlpack(py::object /*stream*/) const {
    auto* exported = new ExportedTensor;
    exported->shape = view_.shape;
    exported->owner = owner_.ptr();
    Py_INCREF(exported->owner);
    DLTensor& t = exported->managed.dl_tensor;
    t.data = view_.data;
    t.device = {export_device_, export_device_ == kDLCPU ? 0 : view_.device};
    t.ndim = static_cast<int>(exported->shape.size());
    t.dtype = dlpack_dtype(view_.dtype);
    t.shape = exported->shape.data();
    t.strides = nullptr;  // compact row-major
    t.byte_offset = 0;
    exported->managed.manager_ctx = exported;
    exported->managed.deleter = [](DLManagedTensor* self) {
      auto* owned = static_cast<ExportedTensor*>(self->manager_ctx);
      py::gil_scoped_acquire gil;
      Py_DECREF(owned->owner);
      delete owned;
    };
    // A capsule still named "dltensor" was never consumed: free it; "used_dltensor" belongs to the consumer.
    return py::capsule(&exported->managed, "dltensor", [](PyObject* capsule) {
      if (PyCapsule_IsValid(capsule, "dltensor")) {
        auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
        managed->deleter(managed);
      }
    });
  }

  std::vector<std::int64_t> shape() const { return view_.shape; }

 private:
  DeviceTensorView view_;
  py::object owner_;
  DLDeviceType export_device_;
};

// Whether no value is NaN or ±inf (exponent bits all ones), branch-free so the loop vectorizes: it
// runs on every step, and the per-element std::isfinite loop was half of step()'s Python overhead.
bool all_finite(const float* data, py::ssize_t count) {
  std::uint32_t special = 0;
  for (py::ssize_t k = 0; k < count; ++k) {
    std::uint32_t bits;
    std::memcpy(&bits, data + k, sizeof bits);
    special |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return special == 0;
}

std::string scenario_name_or_path(const std::string& scenario, const std::string& scenarios_dir) {
  // A shipped scenario by name ("default", "auctionnet.yaml") or any path.
  if (scenario.find('/') != std::string::npos) return scenario;
  const std::string file = scenario.size() > 5 && scenario.compare(scenario.size() - 5, 5, ".yaml") == 0
                               ? scenario
                               : scenario + ".yaml";
  FILE* local = std::fopen(scenario.c_str(), "r");
  if (local) {
    std::fclose(local);
    return scenario;
  }
  return scenarios_dir + "/" + file;
}

// Whether `object` is a NumPy array of exactly T (no conversion: a converted copy would take the
// writes), C-contiguous, writable, of this shape: arrays the engine writes into for the caller.
template <typename T>
bool writable_c_array(const py::object& object, const std::vector<py::ssize_t>& shape) {
  if (!py::isinstance<py::array_t<T, py::array::c_style>>(object)) return false;
  const auto array = py::reinterpret_borrow<py::array>(object);
  if (!array.writeable() || array.ndim() != static_cast<py::ssize_t>(shape.size())) return false;
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (array.shape(static_cast<py::ssize_t>(d)) != shape[d]) return false;
  return true;
}

}  // namespace

// E environments x N agents of one scenario, stepped from Python.
class Market {
 public:
  Market(const std::string& scenario, const std::vector<std::string>& overrides, const std::string& device,
         int threads, const std::string& scenarios_dir)
      : scenario_(load_scenario(scenario_name_or_path(scenario, scenarios_dir), overrides)),
        simulator_(scenario_, parse_device(device), threads),
        policies_(scenario_) {
    const MarketState& s = simulator_.state();
    envs_ = s.envs;
    agents_ = s.agents;
    steps_ = s.steps;
  }

  void reset(py::object episode) {
    if (!episode.is_none()) {
      const long long requested = episode.cast<long long>();
      if (requested < 0) throw py::value_error("Market.reset: episode: got " + std::to_string(requested) +
                                               ", expected an integer >= 0");
      next_episode_ = static_cast<std::uint64_t>(requested);
    }
    simulator_.reset(next_episode_);
    ++next_episode_;
    policies_.reset();
    started_ = true;
  }

  void step(py::object multipliers) {
    if (!started_) throw UsageError("Market.step: call reset() first");
    if (simulator_.done())
      throw UsageError("Market.step: the episode is over after " + std::to_string(steps_) +
                       " steps; call reset()");
    const py::ssize_t expected = static_cast<py::ssize_t>(envs_) * agents_;
    auto values = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(multipliers);
    if (!values) {
      PyErr_Clear();
      throw py::type_error("Market.step: multipliers: expected an array of numbers (E x N bid multipliers)");
    }
    if (values.size() != expected)
      throw py::value_error("Market.step: multipliers: got " + std::to_string(values.size()) +
                            " values, expected envs x agents = " + std::to_string(envs_) + " x " +
                            std::to_string(agents_) + " = " + std::to_string(expected));
    const float* data = values.data();
    if (!all_finite(data, expected))
      for (py::ssize_t k = 0; k < expected; ++k)
        if (!std::isfinite(data[k]))
          throw py::value_error("Market.step: multipliers[" + std::to_string(k / agents_) + ", " +
                              std::to_string(k % agents_) + "]: got " + std::to_string(data[k]) +
                              ", expected a finite number (negative values bid nothing)");
    py::gil_scoped_release release;
    simulator_.step(data);
  }

  // Per-impression bids (engine/core/impression_bids.hpp). The values every agent observes for the next
  // step, as read-only views ([rows, N]) of the Market's own buffer, overwritten by the next call; or,
  // with `out` (a writable C-contiguous float32 array [2, N, rows]), written agent-major into it
  // (out[0] values, out[1] sigmas: each agent's row contiguous), returned as its views out[0], out[1].
  py::dict observe_impressions(py::object self, py::object out) {
    if (!started_) throw UsageError("Market.observe_impressions: call reset() first");
    if (simulator_.done())
      throw UsageError("Market.observe_impressions: the episode is over after " + std::to_string(steps_) +
                       " steps; call reset()");
    py::dict result;
    if (!out.is_none()) {
      const py::array_t<std::int64_t> offsets = next_step_offset();
      const py::ssize_t rows = static_cast<py::ssize_t>(offsets.at(offsets.size() - 1));
      if (!writable_c_array<float>(out, {2, agents_, rows}))
        throw py::value_error("Market.observe_impressions: out: expected a writable C-contiguous float32 array of shape "
                              "(2, agents, impressions) = (2, " + std::to_string(agents_) + ", " + std::to_string(rows) + ")");
      auto array = py::reinterpret_borrow<py::array_t<float>>(out);
      float* data = array.mutable_data();
      {
        py::gil_scoped_release release;
        simulator_.observe_impressions(ValueOutput::agent_major(data, data + static_cast<std::size_t>(rows) * agents_, rows));
      }
      result["step"] = simulator_.step_index();
      result["offset"] = offsets;
      result["value"] = array[py::int_(0)];
      result["sigma"] = array[py::int_(1)];
      return result;
    }
    {
      py::gil_scoped_release release;
      simulator_.observe_impressions(view_);
    }
    const py::ssize_t rows = static_cast<py::ssize_t>(view_.rows());
    result["step"] = view_.step;
    result["offset"] = readonly_view(view_.offset.data(), {static_cast<py::ssize_t>(view_.offset.size())}, self);
    result["value"] = readonly_view(view_.value.data(), {rows, agents_}, self);
    result["sigma"] = readonly_view(view_.sigma.data(), {rows, agents_}, self);
    return result;
  }

  // One step with per-impression bids (float32; rows = the step's impressions of every env, env by env):
  // [rows, N], or [N, rows] with by_agent (each agent's bids contiguous, transposed here with the GIL
  // released). negative_to_zero: a negative bid is no bid (AuctionNet's `bids[bids < 0] = 0`) instead of
  // an error. Returns the per-impression outcomes as read-only views ([rows, S] and [rows]).
  py::dict step_bids(py::object self, py::object bids, bool by_agent, bool negative_to_zero) {
    if (!started_) throw UsageError("Market.step_bids: call reset() first");
    if (simulator_.done())
      throw UsageError("Market.step_bids: the episode is over after " + std::to_string(steps_) + " steps; call reset()");
    auto values = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(bids);
    if (!values) {
      PyErr_Clear();
      throw py::type_error("Market.step_bids: bids: expected an array of numbers (impressions x agents)");
    }
    const std::vector<std::int64_t> rows = simulator_.next_step_rows();
    const py::ssize_t expected_rows = static_cast<py::ssize_t>(rows.back());
    const py::ssize_t first = by_agent ? agents_ : expected_rows, second = by_agent ? expected_rows : agents_;
    const bool shape_ok = values.ndim() == 2 && values.shape(0) == first && values.shape(1) == second;
    if (!shape_ok) {
      std::string shape = "(";
      for (py::ssize_t d = 0; d < values.ndim(); ++d) shape += (d ? ", " : "") + std::to_string(values.shape(d));
      shape += values.ndim() == 1 ? ",)" : ")";
      throw py::value_error("Market.step_bids: bids: got shape " + shape + ", expected " +
                            (by_agent ? "(agents, impressions)" : "(impressions, agents)") + " = (" +
                            std::to_string(first) + ", " + std::to_string(second) + ")");
    }
    const float* data = values.data();
    if (by_agent || negative_to_zero) {
      bool finite = true;
      {
        py::gil_scoped_release release;
        finite = to_impression_major(data, expected_rows, agents_, by_agent, negative_to_zero, bids_);
      }
      if (!finite) report_bad_bid(data, first, second, negative_to_zero);
      data = bids_.data();
    }
    check_bids(data, expected_rows, agents_, "Market.step_bids");
    {
      py::gil_scoped_release release;
      simulator_.step_bids(data, static_cast<std::size_t>(expected_rows) * agents_, &outcomes_);
    }
    const py::ssize_t S = outcomes_.slots;
    py::dict out;
    out["offset"] = readonly_view(outcomes_.offset.data(), {static_cast<py::ssize_t>(outcomes_.offset.size())}, self);
    out["winner"] = readonly_view(outcomes_.winner.data(), {expected_rows, S}, self);
    out["price"] = readonly_view(outcomes_.price.data(), {expected_rows, S}, self);
    out["exposed"] = readonly_view(outcomes_.exposed.data(), {expected_rows, S}, self);
    out["charged"] = readonly_view(outcomes_.charged.data(), {expected_rows, S}, self);
    out["converted"] = readonly_view(outcomes_.converted.data(), {expected_rows, S}, self);
    out["least_winning_cost"] = readonly_view(outcomes_.least_winning_cost.data(), {expected_rows}, self);
    return out;
  }

  // The last step_bids step's outcomes into the per-(impression, agent) arrays of the AuctionNet
  // harness's histories: auction [rows, N, 3] float64 (won 1, slot 1..S, price; 0 0 0 unsold) and
  // impression [rows, N, 2] float32 (exposed, converted). Every cell is written, block of rows by block
  // of rows (zero, then that block's sold slots, while it is in cache): a streaming write of the whole
  // array costs less than clearing last episode's cells and scattering this one's into cold memory.
  void write_outcomes(py::object auction_object, py::object impression_object) {
    const py::ssize_t rows = static_cast<py::ssize_t>(outcomes_.rows()), S = outcomes_.slots;
    if (!writable_c_array<double>(auction_object, {rows, agents_, 3}) ||
        !writable_c_array<float>(impression_object, {rows, agents_, 2}))
      throw py::value_error("Market.write_outcomes: expected writable C-contiguous arrays auction float64 (" +
                            std::to_string(rows) + ", " + std::to_string(agents_) + ", 3) and impression float32 (" +
                            std::to_string(rows) + ", " + std::to_string(agents_) + ", 2) for the last step_bids step");
    double* a = py::reinterpret_borrow<py::array_t<double>>(auction_object).mutable_data();
    float* m = py::reinterpret_borrow<py::array_t<float>>(impression_object).mutable_data();
    py::gil_scoped_release release;
    constexpr py::ssize_t kBlockRows = 32;  // 32 x 48 agents x 32 bytes = 48 KiB: stays in L2
    for (py::ssize_t j0 = 0; j0 < rows; j0 += kBlockRows) {
      const py::ssize_t j1 = std::min(rows, j0 + kBlockRows);
      std::memset(a + 3 * j0 * agents_, 0, sizeof(double) * 3 * (j1 - j0) * agents_);
      std::memset(m + 2 * j0 * agents_, 0, sizeof(float) * 2 * (j1 - j0) * agents_);
      for (py::ssize_t j = j0; j < j1; ++j)
        for (py::ssize_t slot = 0; slot < S; ++slot) {
          const std::size_t q = static_cast<std::size_t>(j * S + slot);
          const std::int32_t agent = outcomes_.winner[q];
          if (agent < 0) continue;
          const std::int64_t cell = static_cast<std::int64_t>(j) * agents_ + agent;
          a[3 * cell] = 1.0;
          a[3 * cell + 1] = static_cast<double>(slot + 1);
          a[3 * cell + 2] = outcomes_.price[q];
          m[2 * cell] = outcomes_.exposed[q];
          m[2 * cell + 1] = outcomes_.converted[q];
        }
    }
  }

  // Rows of the next step per environment ([E+1] offsets; the last is the step's rows).
  py::array_t<std::int64_t> next_step_offset() const {
    const std::vector<std::int64_t> offset = simulator_.next_step_rows();
    py::array_t<std::int64_t> out(static_cast<py::ssize_t>(offset.size()));
    std::copy(offset.begin(), offset.end(), out.mutable_data());
    return out;
  }

  // The remaining budget below which an agent does not bid (budget.floor in exact money, as units).
  double budget_floor() const { return to_units(budget_to_money(scenario_.budget.floor)); }

  // For the step-overhead benchmark (bench/bench_python.py): `count` steps with the same multipliers in
  // a C++ loop (a reset whenever an episode ends), so Python's cost per step is measured against it.
  void run_steps_in_cpp(py::array_t<float, py::array::c_style | py::array::forcecast> multipliers, int count) {
    if (multipliers.size() != static_cast<py::ssize_t>(envs_) * agents_)
      throw py::value_error("Market._run_steps_in_cpp: multipliers: wrong size");
    const float* data = multipliers.data();
    py::gil_scoped_release release;
    for (int k = 0; k < count; ++k) {
      if (!started_ || simulator_.done()) {
        simulator_.reset(next_episode_++);
        started_ = true;
      }
      simulator_.step(data);
    }
  }

  // The scenario's built-in policies (truthful, constant, pid, cpa) for the current step: what
  // `bidsim simulate` would bid, so a Python loop can reproduce it or mix it with its own bids.
  py::array_t<float> builtin_multipliers() {
    if (!started_) throw UsageError("Market.builtin_multipliers: call reset() first");
    py::array_t<float> out({static_cast<py::ssize_t>(envs_), static_cast<py::ssize_t>(agents_)});
    policies_.act(simulator_.state(), out.mutable_data());
    return out;
  }

  // Zero-copy export of a device-resident backend's buffer (CUDA, or its emulator), for DLPack.
  DeviceArray device_array(const std::string& name, py::object self) {
    static const std::vector<std::pair<std::string, MarketTensor>> kNames = {
        {"multipliers", MarketTensor::multipliers},       {"observation", MarketTensor::observations},
        {"step_reward", MarketTensor::step_reward},       {"step_cost", MarketTensor::step_cost},
        {"step_value", MarketTensor::step_value},         {"remaining_budget", MarketTensor::remaining_budget},
        {"reward", MarketTensor::reward}};
    for (const auto& [key, tensor] : kNames) {
      if (key != name) continue;
      if (!simulator_.device_resident())
        throw UsageError(std::string("Market.device_array: the ") + simulator_.backend_name() +
                         " backend keeps its state in host memory; use the NumPy views instead");
      simulator_.synchronize();
      return DeviceArray(simulator_.device_tensor(tensor), std::move(self), simulator_.device_memory_on_host());
    }
    std::string known;
    for (const auto& entry : kNames) known += (known.empty() ? "" : ", ") + entry.first;
    throw py::value_error("Market.device_array: name: got '" + name + "', expected one of " + known);
  }

  const MarketState& state() { return simulator_.state(); }
  const Scenario& scenario() const { return scenario_; }
  const char* backend() const { return simulator_.backend_name(); }
  int envs() const { return envs_; }
  int agents() const { return agents_; }
  int steps() const { return steps_; }
  int step_index() const { return simulator_.step_index(); }
  bool done() { return started_ && simulator_.done(); }

 private:
  // `data` ([rows][N], or [N][rows] by_agent) into `out` [rows][N], negatives to 0 when asked; false when
  // some bid is NaN or infinite, or negative without negative_to_zero. Transposed in tiles of rows so
  // both sides stay in cache.
  static bool to_impression_major(const float* data, py::ssize_t rows, int agents, bool by_agent, bool negative_to_zero,
                                  std::vector<float>& out) {
    out.resize(static_cast<std::size_t>(rows) * agents);
    float* dst = out.data();
    const float low = negative_to_zero ? 0.0f : -std::numeric_limits<float>::infinity();
    if (!by_agent) {
      for (py::ssize_t k = 0; k < rows * agents; ++k) dst[k] = std::max(data[k], low);  // NaN stays: max(NaN, low)
      return all_valid(data, rows * agents, negative_to_zero);
    }
    constexpr py::ssize_t kTileRows = 256;
    for (py::ssize_t j0 = 0; j0 < rows; j0 += kTileRows) {
      const py::ssize_t j1 = std::min(rows, j0 + kTileRows);
      for (int i = 0; i < agents; ++i) {
        const float* src = data + static_cast<py::ssize_t>(i) * rows;
        for (py::ssize_t j = j0; j < j1; ++j) dst[j * agents + i] = std::max(src[j], low);
      }
    }
    return all_valid(data, rows * agents, negative_to_zero);
  }
  static bool all_valid(const float* data, py::ssize_t count, bool negative_allowed) {
    if (!all_finite(data, count)) return false;
    if (negative_allowed) return true;
    bool negative = false;
    for (py::ssize_t k = 0; k < count; ++k) negative |= data[k] < 0.0f;
    return !negative;
  }

  // Names the first bad bid in the caller's own indexing ([first, second] of its array), in
  // check_bids' words.
  [[noreturn]] static void report_bad_bid(const float* data, py::ssize_t first, py::ssize_t second, bool negative_to_zero) {
    for (py::ssize_t k = 0; k < first * second; ++k) {
      if (std::isfinite(data[k]) && (negative_to_zero || data[k] >= 0.0f)) continue;
      std::ostringstream o;
      o << "Market.step_bids: bids[" << k / second << ", " << k % second << "]: got " << data[k]
        << (negative_to_zero ? ", expected a finite number (negative = no bid)" : ", expected a finite number >= 0 (0 = no bid)");
      throw UsageError(o.str());
    }
    throw std::logic_error("report_bad_bid: no bad bid");
  }

  Scenario scenario_;
  Simulator simulator_;
  BuiltinPolicies policies_;
  StepImpressions view_;          // observe_impressions' buffers (the arrays it returns view them)
  ImpressionOutcomes outcomes_;   // step_bids' buffers
  std::vector<float> bids_;       // step_bids' [rows][N] copy of by_agent or negative_to_zero bids
  int envs_ = 0, agents_ = 0, steps_ = 0;
  std::uint64_t next_episode_ = 0;
  bool started_ = false;
};

// Mean field: the solver configurations of one mesob scenario from dicts of solver settings over the
// scenario's `solver:` defaults (validated in python/bidsim/mesob.py, which builds them).
std::vector<mesob::SolverConfig> mesob_configs(const mesob::MesobScenario& sc, const std::vector<py::dict>& settings) {
  using namespace mesob;
  std::vector<SolverConfig> configs;
  for (const py::dict& d : settings) {
    SolverConfig c = sc.solver;
    if (d.contains("solver") && !parse_solver(d["solver"].cast<std::string>(), c.kind))
      throw UsageError("solver: got '" + d["solver"].cast<std::string>() +
                       "', expected mesob-omo, mf-omo, mfc, omd, fp or heuristic");
    if (d.contains("optimizer") && !parse_optimizer(d["optimizer"].cast<std::string>(), c.optimizer))
      throw UsageError("optimizer: got '" + d["optimizer"].cast<std::string>() +
                       "', expected adam, gradient, armijo or mirror");
    if (d.contains("lambda1")) c.weights.lambda1 = d["lambda1"].cast<double>();
    if (d.contains("lambda2")) c.weights.lambda2 = d["lambda2"].cast<double>();
    if (d.contains("rho1")) c.weights.rho1 = d["rho1"].cast<double>();
    if (d.contains("rho2")) c.weights.rho2 = d["rho2"].cast<double>();
    if (d.contains("lr")) c.lr = d["lr"].cast<double>();
    if (d.contains("tol")) c.tol = d["tol"].cast<double>();
    if (d.contains("iterations")) c.iterations = d["iterations"].cast<int>();
    if (d.contains("record_every")) c.record_every = d["record_every"].cast<int>();
    if (d.contains("multiplier_every")) c.multiplier_every = d["multiplier_every"].cast<int>();
    if (d.contains("budget")) {
      // As `bidsim mesob --budget`: mf-omo fixes its own weights and mfc has no best-response term.
      if (c.kind != SolverKind::mesob_omo)
        throw UsageError(std::string("budget: applies to solver mesob-omo only, got ") + to_string(c.kind));
      c.weights.budget = d["budget"].cast<double>();
      if (c.multiplier_every <= 0) c.multiplier_every = kFrontierMultiplierEvery;
    }
    configs.push_back(c);
  }
  return configs;
}

// Solves `configs` as one batch; the results come back as plain arrays and numbers.
py::list mesob_results(const mesob::AuctionGame& game, const std::vector<mesob::SolverConfig>& configs, int threads,
                       const std::string& device) {
  using namespace mesob;
  const Device requested = parse_device(device);
  std::vector<SolveResult> results;
  {
    py::gil_scoped_release release;
    results = solve_batch(game, configs, threads, resolve_device(requested, configs));
  }
  const py::ssize_t slices = game.slices(), states = game.states(), actions = game.actions();
  py::list out;
  for (const SolveResult& r : results) {
    py::dict item;
    py::array_t<double> policy({slices, states, actions});
    std::copy(r.policy.begin(), r.policy.end(), policy.mutable_data());
    item["policy"] = policy;
    item["solver"] = to_string(r.config.kind);
    item["lambda1"] = r.config.weights.lambda1;
    item["lambda2"] = r.config.weights.lambda2;
    item["budget"] = r.config.weights.budget;  // -1: no exploitability budget
    item["multiplier_every"] = effective_multiplier_every(r.config);
    item["exploitability"] = r.exploitability;
    item["welfare"] = r.welfare.value;
    item["V1"] = r.welfare.v1;
    item["V2"] = r.welfare.v2;
    item["V3"] = r.welfare.v3;
    item["residual"] = r.residual;
    item["converged"] = r.converged;
    item["iterations_run"] = r.iterations_run;
    item["device"] = r.device == Device::cuda ? "cuda" : "cpu";
    const auto column = [&](double IterationRecord::*field) {
      py::array_t<double> a(static_cast<py::ssize_t>(r.history.size()));
      for (std::size_t k = 0; k < r.history.size(); ++k) a.mutable_at(k) = r.history[k].*field;
      return a;
    };
    py::array_t<int> iteration(static_cast<py::ssize_t>(r.history.size()));
    for (std::size_t k = 0; k < r.history.size(); ++k) iteration.mutable_at(k) = r.history[k].iteration;
    py::dict history;
    history["iteration"] = iteration;
    history["objective"] = column(&IterationRecord::objective);
    history["exploitability"] = column(&IterationRecord::exploitability);
    history["welfare"] = column(&IterationRecord::welfare);
    history["residual"] = column(&IterationRecord::residual);
    item["history"] = history;
    out.append(item);
  }
  return out;
}

py::list mesob_solve_batch(const std::string& scenario, const std::vector<std::string>& overrides,
                           const std::vector<py::dict>& settings, int threads, const std::string& device,
                           const std::string& scenarios_dir) {
  const mesob::MesobScenario sc = mesob::load_mesob_scenario(scenario_name_or_path(scenario, scenarios_dir), overrides);
  const mesob::AuctionGame game(sc.game);
  return mesob_results(game, mesob_configs(sc, settings), threads, device);
}

// `mesob-pareto --method frontier`: the ε-constraint sweep (mesob::frontier_configs) over the settings'
// base configuration; iterations, ρ2 and the multiplier interval keep the frontier's defaults unless set.
py::list mesob_frontier(const std::string& scenario, const std::vector<std::string>& overrides, const py::dict& settings,
                        int budgets, int threads, const std::string& device, const std::string& scenarios_dir) {
  const mesob::MesobScenario sc = mesob::load_mesob_scenario(scenario_name_or_path(scenario, scenarios_dir), overrides);
  const mesob::AuctionGame game(sc.game);
  const mesob::SolverConfig base = mesob_configs(sc, {settings}).front();
  mesob::FrontierOptions options;
  options.budgets = budgets;
  options.iterations_given = settings.contains("iterations");
  options.rho2_given = settings.contains("rho2");
  options.multiplier_every_given = settings.contains("multiplier_every");
  return mesob_results(game, mesob::frontier_configs(game, base, options), threads, device);
}

}  // namespace bidsim::python

PYBIND11_MODULE(_bidsim, m) {
  using namespace bidsim;
  using bidsim::python::Market;
  m.doc() = "bidsim's C++ market engine (use the `bidsim` package, not this module directly)";

  // The CLI's one-line messages, as Python exceptions (both are ValueErrors: bad input).
  static py::exception<ScenarioError> scenario_error(m, "ScenarioError", PyExc_ValueError);
  static py::exception<UsageError> usage_error(m, "UsageError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ScenarioError& e) {
      scenario_error(e.what());
    } catch (const UsageError& e) {
      usage_error(e.what());
    }
  });

  m.attr("OBSERVATION_FIELDS") = [] {
    std::vector<std::string> names;
    for (int f = 0; f < kObservationWidth; ++f) names.emplace_back(observation_field_name(f));
    return names;
  }();
  m.def("cuda_backend_built", &cuda_backend_built);
  m.def("_mesob_solve_batch", &python::mesob_solve_batch, py::arg("scenario"), py::arg("overrides"),
        py::arg("settings"), py::arg("threads"), py::arg("device"), py::arg("scenarios_dir"));
  m.def("_mesob_frontier", &python::mesob_frontier, py::arg("scenario"), py::arg("overrides"), py::arg("settings"),
        py::arg("budgets"), py::arg("threads"), py::arg("device"), py::arg("scenarios_dir"));
  m.def("cuda_device_present", &cuda_device_present);

  py::class_<python::DeviceArray>(m, "DeviceArray",
                                  "A device buffer of a Market exported without copy (DLPack protocol).")
      .def("__dlpack__", &python::DeviceArray::dlpack, py::arg("stream") = py::none())
      .def("__dlpack_device__", &python::DeviceArray::dlpack_device)
      .def_property_readonly("shape", &python::DeviceArray::shape);

  // Views of [E][N] fields; each property returns a fresh read-only view of the same memory.
  auto per_agent = [](auto member) {
    return [member](py::object self) -> py::array {
      Market& market = self.cast<Market&>();
      const MarketState& s = market.state();
      return python::readonly_view((s.*member).data(), {s.envs, s.agents}, self);
    };
  };

  py::class_<Market>(m, "Market")
      .def(py::init<const std::string&, const std::vector<std::string>&, const std::string&, int,
                    const std::string&>(),
           py::arg("scenario"), py::arg("overrides"), py::arg("device"), py::arg("threads"),
           py::arg("scenarios_dir"))
      .def("reset", &Market::reset, py::arg("episode") = py::none())
      .def("step", &Market::step, py::arg("multipliers"))
      .def("builtin_multipliers", &Market::builtin_multipliers)
      .def("observe_impressions",
           [](py::object self, py::object out) { return self.cast<Market&>().observe_impressions(self, out); },
           py::arg("out") = py::none())
      .def("step_bids",
           [](py::object self, py::object bids, bool by_agent, bool negative_to_zero) {
             return self.cast<Market&>().step_bids(self, bids, by_agent, negative_to_zero);
           },
           py::arg("bids"), py::kw_only(), py::arg("by_agent") = false, py::arg("negative_to_zero") = false)
      .def_property_readonly("next_step_offset", &Market::next_step_offset)
      .def("write_outcomes", &Market::write_outcomes, py::arg("auction"), py::arg("impression"))
      .def_property_readonly("budget_floor", &Market::budget_floor)
      .def_property_readonly("budgets", [](const Market& market) { return market.scenario().agents.budget; })
      .def_property_readonly("cpa", [](const Market& market) { return market.scenario().agents.cpa; })
      .def_property_readonly("categories", [](const Market& market) { return market.scenario().agents.category; })
      .def_property_readonly("slots", [](const Market& market) { return market.scenario().mechanism.slots; })
      .def("_run_steps_in_cpp", &Market::run_steps_in_cpp, py::arg("multipliers"), py::arg("count"))
      .def("device_array", [](py::object self, const std::string& name) {
             return self.cast<Market&>().device_array(name, self);
           }, py::arg("name"))
      .def_property_readonly("backend", &Market::backend)
      .def_property_readonly("envs", &Market::envs)
      .def_property_readonly("agents", &Market::agents)
      .def_property_readonly("steps", &Market::steps)
      .def_property_readonly("step_index", &Market::step_index)
      .def_property_readonly("done", &Market::done)
      .def_property_readonly("seed", [](const Market& market) { return market.scenario().seed; })
      .def_property_readonly("scenario_name", [](const Market& market) { return market.scenario().name; })
      .def_property_readonly("observation", [](py::object self) -> py::array {
        const MarketState& s = self.cast<Market&>().state();
        return python::readonly_view(s.observation.data(), {s.envs, s.agents, kObservationWidth}, self);
      })
      .def_property_readonly("step_reward", per_agent(&MarketState::step_reward))
      .def_property_readonly("step_cost", per_agent(&MarketState::step_cost))
      .def_property_readonly("step_value", per_agent(&MarketState::step_value))
      .def_property_readonly("step_conversions", per_agent(&MarketState::step_conversions))
      .def_property_readonly("step_wins", per_agent(&MarketState::step_wins))
      .def_property_readonly("step_exposures", per_agent(&MarketState::step_exposures))
      .def_property_readonly("step_multiplier", per_agent(&MarketState::step_multiplier))
      .def_property_readonly("reward", per_agent(&MarketState::reward))
      .def_property_readonly("cost", per_agent(&MarketState::cost))
      .def_property_readonly("value", per_agent(&MarketState::value))
      .def_property_readonly("conversions", per_agent(&MarketState::conversions))
      .def_property_readonly("wins", per_agent(&MarketState::wins))
      .def_property_readonly("exposures", per_agent(&MarketState::exposures))
      .def_property_readonly("remaining_budget", per_agent(&MarketState::remaining_budget))
      .def_property_readonly("revenue", [](py::object self) -> py::array {
        const MarketState& s = self.cast<Market&>().state();
        return python::readonly_view(s.revenue.data(), {s.envs}, self);
      });
}
