// The two kinds of user error every bidsim command reports as one line on stderr with exit status 2.
// Kept apart so scenario loaders, the facade and the mean-field / learning layers share them.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

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

// `message` safe to print as one line on a terminal: control bytes (newlines, escape sequences, NUL)
// that came from user input are shown as \xNN instead of acting on the terminal or splitting the line.
inline std::string printable_line(const std::string& message) {
  std::string out;
  out.reserve(message.size());
  for (const char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace bidsim
