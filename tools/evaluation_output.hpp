// What `bidsim train` and `bidsim evaluate` print and write about an evaluation (rl/evaluate.hpp): the
// human summary with its intervals and best-response curve, the summary.json fields, Table 3.
#pragma once

#include <nlohmann/json.hpp>

#include <ostream>

#include "rl/evaluate.hpp"

namespace bidsim {

// summary.json fields of an evaluation (see docs/exploitability.md for each key).
nlohmann::json evaluation_json(const rl::EvaluationResult& e, int agents);

// The human summary; `epsilon` < 0 prints no compliance verdict.
void print_evaluation(std::ostream& out, const rl::EvaluationResult& e, double epsilon);

}  // namespace bidsim
