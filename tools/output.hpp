// What `bidsim` prints and writes: the human summary, summary.json and steps.csv. Files are written
// to a temporary name and renamed, so a failed run never leaves a half-written output behind.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "engine/core/config_types.hpp"
#include "engine/facade/simulate.hpp"

namespace bidsim {

// Creates `dir` (and parents) or throws UsageError naming it. A directory that already holds the
// outputs of a run (summary.json, checkpoint.pt, ...) is refused unless `overwrite`, so an earlier
// run is never replaced by accident.
void prepare_output_dir(const std::string& dir, bool overwrite);
// Writes `text` to `dir/name` atomically (temporary file + rename).
void write_file_atomic(const std::string& dir, const std::string& name, const std::string& text);

void print_simulation(std::ostream& out, const Scenario& scenario, const std::string& backend,
                      const SimulationResult& result, bool quiet);
// `peak_memory_mb` (per MPI rank, optional) is recorded as peak_memory_mb_per_rank; a device
// backend's counters (optional) as device_counters: per-step values, mean and max, and totals.
void write_simulation_json(const std::string& dir, const Scenario& scenario,
                           const std::string& backend, const SimulationResult& result,
                           const std::vector<double>& peak_memory_mb = {},
                           const DeviceCounters* device_counters = nullptr);
// One line: per-step means of the device backend's launches, synchronizations and copies.
void print_device_counters(std::ostream& out, const DeviceCounters& counters);
void write_steps_csv(const std::string& dir, const SimulationResult& result);

}  // namespace bidsim
