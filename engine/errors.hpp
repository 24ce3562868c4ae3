// The two kinds of user error every bidsim command reports as one line on stderr with exit status 2.
// Kept apart so scenario loaders, the facade and the mean-field / learning layers share them.
#pragma once

#include <stdexcept>

namespace bidsim {

// A bad scenario file or override. what() is the whole one-line message (file, key, value, expectation).
class ScenarioError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A request the build or machine cannot satisfy (e.g. --device cuda without a GPU).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace bidsim
