// Progress with rate and ETA on stderr for work that runs longer than ~2 s (tqdm's conventions):
// quiet for short runs, one rewritten line on a terminal, a line every few seconds in a log file.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace bidsim {

enum class ProgressMode { automatic, always, never };

inline ProgressMode parse_progress_mode(const std::string& text, const std::string& flag) {
  if (text == "auto") return ProgressMode::automatic;
  if (text == "always") return ProgressMode::always;
  if (text == "never") return ProgressMode::never;
  throw std::invalid_argument(flag + ": got '" + text + "', expected auto, always or never");
}

// "what: detail  42% 1.3k units/s  ETA 12 s" (ETA ≤ when `total` is an upper bound of the work).
inline std::string format_progress(const std::string& what, const std::string& detail, double done, double total,
                                   double elapsed_s, bool total_is_bound, const std::string& unit) {
  std::ostringstream o;
  o << what << ": " << detail;
  if (total > 0) o << "  " << static_cast<int>(std::floor(100.0 * std::min(done, total) / total)) << "%";
  const double rate = elapsed_s > 0 ? done / elapsed_s : 0.0;
  char rate_text[32];
  if (rate >= 1e6) std::snprintf(rate_text, sizeof rate_text, "%.1fM", rate / 1e6);
  else if (rate >= 1e3) std::snprintf(rate_text, sizeof rate_text, "%.1fk", rate / 1e3);
  else std::snprintf(rate_text, sizeof rate_text, "%.1f", rate);
  o << "  " << rate_text << " " << unit << "/s";
  if (rate > 0 && total >= done) {
    const double eta = (total - done) / rate;
    o << "  ETA " << (total_is_bound ? "<= " : "");
    if (eta >= 3600) o << static_cast<int>(eta / 3600) << " h " << static_cast<int>(std::fmod(eta, 3600) / 60) << " min";
    else if (eta >= 60) o << static_cast<int>(eta / 60) << " min " << static_cast<int>(std::fmod(eta, 60)) << " s";
    else o << static_cast<int>(std::ceil(eta)) << " s";
  }
  return o.str();
}

// Prints format_progress lines to stderr: in automatic mode only once `delay_s` has passed, then
// every `terminal_interval_s` on a terminal (rewriting one line) or every `log_interval_s` otherwise.
class ProgressLine {
 public:
  ProgressLine(std::string what, std::string unit, ProgressMode mode)
      : what_(std::move(what)), unit_(std::move(unit)), mode_(mode), terminal_(isatty(STDERR_FILENO) != 0),
        start_(std::chrono::steady_clock::now()) {}
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine() { finish(); }

  void update(const std::string& detail, double done, double total, bool total_is_bound) {
    if (mode_ == ProgressMode::never) return;
    const double elapsed = seconds_since(start_);
    if (mode_ == ProgressMode::automatic) {
      if (elapsed < kDelaySeconds) return;
      if (printed_ && elapsed - last_print_ < (terminal_ ? kTerminalInterval : kLogInterval)) return;
    }
    last_print_ = elapsed;
    const std::string line = format_progress(what_, detail, done, total, elapsed, total_is_bound, unit_);
    if (terminal_) std::cerr << "\r" << line << "\x1b[K" << std::flush;
    else std::cerr << line << "\n" << std::flush;
    printed_ = true;
  }
  // Ends a rewritten terminal line so that what follows starts on its own.
  void finish() {
    if (printed_ && terminal_) std::cerr << "\n" << std::flush;
    printed_ = false;
  }

 private:
  static constexpr double kDelaySeconds = 2.0, kTerminalInterval = 0.5, kLogInterval = 10.0;
  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }
  std::string what_, unit_;
  ProgressMode mode_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  bool printed_ = false;
  double last_print_ = 0;
};

}  // namespace bidsim
