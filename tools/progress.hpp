// Progress with rate and ETA on stderr for work that runs longer than ~2 s (tqdm's conventions), the one
// facility every `bidsim` command uses: quiet for short runs, one rewritten line on a terminal, plain
// lines every few seconds otherwise (a log file, a pipe), nothing with --quiet or --progress never.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

// What --quiet and --progress together ask for: an explicit --progress wins; otherwise --quiet means no
// progress (the same in every command) and the default is automatic. `flag_value` "" = not given.
inline ProgressMode progress_mode(bool quiet, const std::string& flag_value) {
  if (!flag_value.empty()) return parse_progress_mode(flag_value, "--progress");
  return quiet ? ProgressMode::never : ProgressMode::automatic;
}

// "what: detail  42%  1.3k units/s  ETA 12 s" (ETA ≤ when `total` is an upper bound of the work).
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

// Seconds from an environment variable: `fallback` when unset, empty, not a number, negative or NaN.
// BIDSIM_PROGRESS_AFTER and BIDSIM_PROGRESS_INTERVAL let tests and batch logs pick the timing (0 and 0:
// a line for every unit of work, so a test needs no slow run and no timing assumption).
inline double progress_seconds_from_env(const char* name, double fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  return *end == '\0' && std::isfinite(v) && v >= 0 ? v : fallback;
}

// Prints format_progress lines to stderr: in automatic mode only once BIDSIM_PROGRESS_AFTER (2 s) has
// passed, then every BIDSIM_PROGRESS_INTERVAL (0.5 s on a terminal, rewriting one line; 10 s otherwise,
// one line each); `always` prints every update from the start. finish() shows the last state when
// an update was held back, so a log ends on where the phase ended. Updates come from one thread at a time.
class ProgressLine {
 public:
  ProgressLine(std::string what, std::string unit, ProgressMode mode)
      : what_(std::move(what)), unit_(std::move(unit)), mode_(mode), terminal_(isatty(STDERR_FILENO) != 0),
        delay_s_(progress_seconds_from_env("BIDSIM_PROGRESS_AFTER", 2.0)),
        interval_s_(progress_seconds_from_env("BIDSIM_PROGRESS_INTERVAL", terminal_ ? 0.5 : 10.0)),
        start_(std::chrono::steady_clock::now()) {}
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine() { finish(); }

  void update(const std::string& detail, double done, double total, bool total_is_bound = false) {
    if (mode_ == ProgressMode::never) return;
    const double elapsed = seconds_since(start_);
    held_ = {detail, done, total, total_is_bound, elapsed};
    if (mode_ == ProgressMode::automatic) {
      if (elapsed < delay_s_) return;
      if (printed_ && elapsed - last_print_ < interval_s_) {
        held_back_ = true;
        return;
      }
    }
    print(held_);
  }
  // "k/n" as the detail: the common case of counted work.
  void update(double done, double total) {
    update(count_text(done) + "/" + count_text(total) + " " + unit_, done, total, false);
  }
  // Ends a rewritten terminal line so that what follows starts on its own.
  void finish() {
    if (held_back_) print(held_);
    if (printed_ && terminal_) std::cerr << "\n" << std::flush;
    printed_ = false;
  }

 private:
  struct State {
    std::string detail;
    double done = 0, total = 0;
    bool total_is_bound = false;
    double elapsed = 0;
  };
  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }
  static std::string count_text(double v) {
    std::ostringstream o;
    o << static_cast<long long>(v);
    return o.str();
  }
  void print(const State& s) {
    const std::string line = format_progress(what_, s.detail, s.done, s.total, s.elapsed, s.total_is_bound, unit_);
    if (terminal_) std::cerr << "\r" << line << "\x1b[K" << std::flush;
    else std::cerr << line << "\n" << std::flush;
    printed_ = true;
    held_back_ = false;
    last_print_ = s.elapsed;
  }
  std::string what_, unit_;
  ProgressMode mode_;
  bool terminal_;
  double delay_s_, interval_s_;
  std::chrono::steady_clock::time_point start_;
  State held_;
  bool printed_ = false, held_back_ = false;
  double last_print_ = 0;
};

}  // namespace bidsim
