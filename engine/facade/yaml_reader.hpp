// A strict YAML map reader shared by every scenario loader (market, mean field, learning): it
// remembers the key path of each node so errors name file, key, value and expectation, and
// finish() rejects keys nobody read.
#pragma once

#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <vector>

#include "engine/core/errors.hpp"

namespace bidsim {

// A node printed on one line (flow style, at most 80 characters) for error messages.
std::string yaml_one_line(const YAML::Node& n);

// Parses YAML text (a malformed file is a ScenarioError naming source:line) and applies
// "key.path=value" overrides in order. An empty document becomes an empty map.
YAML::Node load_yaml_text(const std::string& text, const std::string& source,
                          const std::vector<std::string>& overrides);
// Same from a file; a missing file is a ScenarioError.
YAML::Node load_yaml_file(const std::string& path, const std::vector<std::string>& overrides);

// Applies "a.b.c=value" (value parsed as YAML), creating maps as needed; list items by index.
void apply_yaml_override(YAML::Node& root, const std::string& assignment, const std::string& source);

class YamlReader {
 public:
  YamlReader(YAML::Node node, std::string path, const std::string& source);

  bool has(const std::string& key) const;
  std::string path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }

  // The child node, marked as read.
  YAML::Node raw(const std::string& key);
  YamlReader map(const std::string& key) { return YamlReader(raw(key), path(key), source_); }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  [[noreturn]] void fail_value(const std::string& full_path, const YAML::Node& n,
                               const std::string& expected) const;

  // Scalar readers with range checks; a missing key gives `fallback`.
  long long integer(const std::string& key, long long fallback, long long lo, long long hi);
  long long integer_of(const YAML::Node& n, const std::string& p, long long lo, long long hi) const;
  double number(const std::string& key, double fallback, double lo, double hi, bool allow_inf = false);
  double number_of(const YAML::Node& n, const std::string& p, double lo, double hi,
                   bool allow_inf = false) const;
  bool boolean(const std::string& key, bool fallback);
  std::string text(const std::string& key, const std::string& fallback);
  // One of `names` (the first is the default), returned as its index.
  int choice(const std::string& key, const std::vector<std::string>& names);
  // A list of finite numbers in [lo, hi] (the key must be present).
  std::vector<double> number_list(const std::string& key, double lo, double hi);

  // Throws for the first key of this map that no reader call asked for.
  void finish() const;

  static std::string num(double x);

 private:
  YAML::Node node_;
  std::string path_;
  const std::string& source_;
  std::set<std::string> used_;
};

}  // namespace bidsim
