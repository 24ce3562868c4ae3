// Strict YAML reading shared by the scenario loaders: one-line errors naming file, key, value and
// expectation; unknown keys rejected; `--set key.path=value` overrides applied before reading.
#include "engine/facade/yaml_reader.hpp"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace bidsim {

namespace {

// yaml-cpp 0.7 keeps the first of two equal keys and drops the rest without a word, so a later,
// possibly invalid value would be ignored. This pass over the parser's events finds duplicate keys
// (with the line of the second one) before the document is built.
class DuplicateKeyScanner : public YAML::EventHandler {
 public:
  // Line (1-based) and text of the first duplicate key; line 0 when there is none.
  int duplicate_line = 0;
  std::string duplicate_key;

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { item(nullptr, {}); }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { item(nullptr, {}); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string& value) override {
    item(&value, mark);
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    item(nullptr, {});
    stack_.push_back(Container{false, {}, true});
  }
  void OnSequenceEnd() override { stack_.pop_back(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    item(nullptr, {});
    stack_.push_back(Container{true, {}, true});
  }
  void OnMapEnd() override { stack_.pop_back(); }

 private:
  struct Container {
    bool is_map;
    std::set<std::string> keys;
    bool expecting_key;  // maps alternate key, value, key, ...
  };
  // A node starts inside the innermost container: in a map every other node is a key.
  void item(const std::string* scalar, const YAML::Mark& mark) {
    if (stack_.empty() || !stack_.back().is_map) return;
    Container& map = stack_.back();
    const bool is_key = map.expecting_key;
    map.expecting_key = !map.expecting_key;
    if (!is_key || !scalar) return;  // a complex key (a map or list as key) is never a duplicate here
    if (!map.keys.insert(*scalar).second && duplicate_line == 0) {
      duplicate_line = mark.line + 1;
      duplicate_key = *scalar;
    }
  }
  std::vector<Container> stack_;
};

// One YAML document from `text`: a malformed document, a duplicate key or a second document (after
// `---`) is a ScenarioError naming `source` and the line.
YAML::Node load_one_document(const std::string& text, const std::string& source) {
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DuplicateKeyScanner scanner;
    if (parser.HandleNextDocument(scanner)) {
      if (scanner.duplicate_line > 0)
        throw ScenarioError(source + ":" + std::to_string(scanner.duplicate_line) + ": key '" +
                            printable_line(scanner.duplicate_key) + "' appears twice in the same map, expected each key once");
      DuplicateKeyScanner second;
      if (parser.HandleNextDocument(second))
        throw ScenarioError(source + ": holds more than one YAML document (a second one after '---'), "
                            "expected a single document");
    }
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    // yaml-cpp quotes the offending character, which can be a newline: keep the message one line.
    throw ScenarioError(source + ":" + std::to_string(e.mark.line + 1) + ": malformed YAML: " + printable_line(e.msg));
  }
}

}  // namespace

std::string yaml_one_line(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "null";
  YAML::Emitter out;
  out << YAML::Flow << n;
  std::string s = out.c_str();
  std::replace(s.begin(), s.end(), '\n', ' ');
  s = printable_line(s);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

YAML::Node load_yaml_text(const std::string& text, const std::string& source,
                          const std::vector<std::string>& overrides) {
  YAML::Node root = load_one_document(text, source);
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  for (const auto& o : overrides) apply_yaml_override(root, o, source);
  return root;
}

YAML::Node load_yaml_file(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ScenarioError(path + ": is a directory, expected a scenario YAML file");
  std::ifstream in(path);
  if (!in) throw ScenarioError(path + ": cannot open scenario file");
  std::stringstream text;
  text << in.rdbuf();
  return load_yaml_text(text.str(), path, overrides);
}

void apply_yaml_override(YAML::Node& root, const std::string& assignment, const std::string& source) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ScenarioError("--set " + assignment + ": expected key.path=value");
  const std::string key = assignment.substr(0, eq);
  YAML::Node value;
  try {
    value = load_one_document(assignment.substr(eq + 1), "--set " + assignment.substr(0, eq) + " value");
  } catch (const ScenarioError& e) {
    throw ScenarioError(source + ": " + e.what());
  }
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) {
    if (part.empty()) throw ScenarioError("--set " + assignment + ": empty component in key path '" + key + "'");
    parts.push_back(part);
  }
  YAML::Node cur = root;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const bool last = k + 1 == parts.size();
    const std::string& part = parts[k];
    if (cur.IsSequence()) {
      char* end = nullptr;
      const long idx = std::strtol(part.c_str(), &end, 10);
      if (*end != '\0' || idx < 0 || idx >= static_cast<long>(cur.size()))
        throw ScenarioError(source + ": --set " + key + ": '" + part + "' is not an index of the list (size " +
                            std::to_string(cur.size()) + ")");
      if (last) { cur[idx] = value; return; }
      YAML::Node next = cur[idx];
      cur.reset(next);
      continue;
    }
    if (cur.IsDefined() && !cur.IsNull() && !cur.IsMap())
      throw ScenarioError(source + ": --set " + key + ": '" + part + "' goes inside a value that is not a map");
    if (last) { cur[part] = value; return; }
    if (!cur[part].IsDefined() || cur[part].IsNull()) cur[part] = YAML::Node(YAML::NodeType::Map);
    YAML::Node next = cur[part];
    cur.reset(next);
  }
}

YamlReader::YamlReader(YAML::Node node, std::string path, const std::string& source)
    : node_(std::move(node)), path_(std::move(path)), source_(source) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) fail_value(path_, node_, "a map of keys");
}

bool YamlReader::has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull();
}

YAML::Node YamlReader::raw(const std::string& key) {
  used_.insert(key);
  return node_.IsMap() ? node_[key] : YAML::Node();
}

void YamlReader::fail(const std::string& key, const std::string& what) const {
  throw ScenarioError(source_ + ": " + path(key) + ": " + what);
}

void YamlReader::fail_value(const std::string& full_path, const YAML::Node& n,
                            const std::string& expected) const {
  throw ScenarioError(source_ + ": " + full_path + ": got " + yaml_one_line(n) + ", expected " + expected);
}

long long YamlReader::integer(const std::string& key, long long fallback, long long lo, long long hi) {
  if (!has(key)) { used_.insert(key); return fallback; }
  return integer_of(raw(key), path(key), lo, hi);
}

long long YamlReader::integer_of(const YAML::Node& n, const std::string& p, long long lo, long long hi) const {
  long long v = 0;
  const std::string range = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v)) fail_value(p, n, range);
  if (v < lo || v > hi) fail_value(p, n, range);
  return v;
}

double YamlReader::number(const std::string& key, double fallback, double lo, double hi, bool allow_inf) {
  if (!has(key)) { used_.insert(key); return fallback; }
  return number_of(raw(key), path(key), lo, hi, allow_inf);
}

double YamlReader::number_of(const YAML::Node& n, const std::string& p, double lo, double hi,
                             bool allow_inf) const {
  double v = 0;
  std::ostringstream range;
  range << (allow_inf ? "a number" : "a finite number") << " in [" << lo << ", "
        << (allow_inf && std::isinf(hi) ? std::string(".inf") : num(hi)) << "]";
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) fail_value(p, n, range.str());
  if (std::isnan(v) || (std::isinf(v) && !allow_inf) || v < lo || v > hi) fail_value(p, n, range.str());
  return v;
}

bool YamlReader::boolean(const std::string& key, bool fallback) {
  if (!has(key)) { used_.insert(key); return fallback; }
  const YAML::Node n = raw(key);
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) fail_value(path(key), n, "true or false");
  return v;
}

std::string YamlReader::text(const std::string& key, const std::string& fallback) {
  if (!has(key)) { used_.insert(key); return fallback; }
  const YAML::Node n = raw(key);
  if (!n.IsScalar()) fail_value(path(key), n, "a string");
  return n.Scalar();
}

int YamlReader::choice(const std::string& key, const std::vector<std::string>& names) {
  const std::string v = text(key, names.front());
  for (std::size_t k = 0; k < names.size(); ++k)
    if (names[k] == v) return static_cast<int>(k);
  std::string list;
  for (const auto& nm : names) list += (list.empty() ? "" : " | ") + nm;
  fail_value(path(key), raw(key), "one of " + list);
}

std::vector<double> YamlReader::number_list(const std::string& key, double lo, double hi) {
  const YAML::Node n = raw(key);
  if (!n.IsSequence()) fail_value(path(key), n, "a list of numbers");
  std::vector<double> out;
  for (std::size_t k = 0; k < n.size(); ++k)
    out.push_back(number_of(n[k], path(key) + "[" + std::to_string(k) + "]", lo, hi));
  return out;
}

void YamlReader::finish() const {
  if (!node_.IsMap()) return;
  for (const auto& kv : node_) {
    const std::string key = printable_line(kv.first.IsScalar() ? kv.first.Scalar() : yaml_one_line(kv.first));
    if (!used_.count(key)) {
      throw ScenarioError(source_ + ": " + path(key) + ": unknown key (see scenarios/README.md for the keys of '" +
                          (path_.empty() ? std::string("<top level>") : path_) + "')");
    }
  }
}

std::string YamlReader::num(double x) {
  std::ostringstream o;
  o << x;
  return o.str();
}

}  // namespace bidsim
