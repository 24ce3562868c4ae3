// Fuzzing the scenario loader: any text must either load or fail with one ScenarioError line; no
// other exception, crash or multi-line message. Two drivers share the check:
//  - a generator (the default build, run briefly by CTest): random mutations of the shipped
//    scenarios, counter-based so every run with the same seed makes the same inputs;
//      bidsim_fuzz_scenarios SOURCE_DIR ITERATIONS [SEED]
//  - libFuzzer (offline, coverage-guided): build with -DBIDSIM_LIBFUZZER and -fsanitize=fuzzer
//    (docs/errors-and-limits.md gives the command), entry point LLVMFuzzerTestOneInput.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/core/errors.hpp"
#include "engine/core/rng.hpp"
#include "engine/facade/scenario.hpp"

namespace {

// Returns "" when `text` loads (then sets `loaded`) or fails cleanly, else what went wrong.
std::string check_one(const std::string& text, bool& loaded) {
  loaded = false;
  try {
    bidsim::parse_scenario(text, "fuzz.yaml", {}, "/nonexistent-fuzz-dir");
    loaded = true;
  } catch (const bidsim::ScenarioError& e) {
    const std::string message = e.what();
    if (message.empty()) return "empty ScenarioError message";
    if (message.find('\n') != std::string::npos) return "multi-line ScenarioError: " + bidsim::printable_line(message);
  } catch (const std::exception& e) {
    return std::string("non-ScenarioError exception: ") + bidsim::printable_line(e.what());
  }
  return "";
}

}  // namespace

#ifdef BIDSIM_LIBFUZZER

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  bool loaded = false;
  const std::string problem = check_one(std::string(reinterpret_cast<const char*>(data), size), loaded);
  if (!problem.empty()) {
    std::fprintf(stderr, "%s\n", problem.c_str());
    std::abort();
  }
  return 0;
}

#else

namespace {

// Fragments that make the mutations reach deeper than byte noise: keys, numbers at the edges of
// their ranges, YAML structure.
const char* const kTokens[] = {
    "market", "envs", "steps", "agents", "count", "budget", "policies", "type", "gsp", "slots", "reserve",
    "candidates", "mode: sparse", "per_impression", "values", "model", "file", "auctionnet", "impressions",
    "profile", "total", "jitter", "deviations", "agents: [0, 0]", "{range: [0, 3]}", "category", "uniform",
    "0", "-1", "1e308", "1e39", ".nan", ".inf", "-.inf", "9223372036854775808", "2147483648", "16000000",
    "null", "~", "[]", "{}", "[1, 2, 3]", ": ", "\n", "  ", "- ", "---\n", "...\n", "&a ", "*a", "<<: *a",
    "!!str ", "? ", "#", "\"", "'", "\t", "\x1b", "" /* a NUL byte */};

struct Generator {
  std::uint64_t seed;
  std::uint32_t counter = 0;
  std::uint32_t word(std::uint32_t bound) {
    const auto d = bidsim::draw(seed, bidsim::Purpose::agent_setup, 0, 0, counter++, 0xF0220u);
    return bound == 0 ? 0 : d[0] % bound;
  }
};

std::string mutate(std::string text, Generator& g) {
  const int edits = 1 + static_cast<int>(g.word(4));
  for (int k = 0; k < edits; ++k) {
    const std::size_t at = text.empty() ? 0 : g.word(static_cast<std::uint32_t>(text.size() + 1));
    switch (g.word(6)) {
      case 0:  // flip a byte
        if (!text.empty() && at < text.size()) text[at] = static_cast<char>(g.word(256));
        break;
      case 1:  // delete a run of bytes
        if (at < text.size()) text.erase(at, 1 + g.word(16));
        break;
      case 2: {  // insert a token
        const std::string token = kTokens[g.word(sizeof kTokens / sizeof kTokens[0])];
        text.insert(at, token.empty() ? std::string(1, '\0') : token);
        break;
      }
      case 3: {  // duplicate a line elsewhere (duplicate keys, repeated documents)
        const std::size_t begin = text.rfind('\n', at == 0 ? 0 : at - 1);
        const std::size_t start = begin == std::string::npos ? 0 : begin + 1;
        const std::size_t end = text.find('\n', start);
        const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
        text.insert(g.word(static_cast<std::uint32_t>(text.size() + 1)), line);
        break;
      }
      case 4: {  // replace a digit run by an edge number
        const std::size_t digit = text.find_first_of("0123456789", at);
        if (digit == std::string::npos) break;
        const std::size_t end = text.find_first_not_of("0123456789.e-", digit);
        const char* const edges[] = {"0", "-1", "1e39", "9223372036854775808", ".nan", "2147483647", "1e-320"};
        text.replace(digit, (end == std::string::npos ? text.size() : end) - digit, edges[g.word(7)]);
        break;
      }
      default:  // truncate
        text.resize(at);
        break;
    }
  }
  return text;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SOURCE_DIR ITERATIONS [SEED]\n", argv[0]);
    return 2;
  }
  const long long iterations = std::atoll(argv[2]);
  const std::uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
  std::vector<std::string> seeds;  // the shipped scenarios (value files cannot resolve: that path fails cleanly)
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(argv[1]) / "scenarios"))
    if (entry.path().extension() == ".yaml") seeds.push_back(read_file(entry.path()));
  if (seeds.empty()) {
    std::fprintf(stderr, "no scenarios under %s/scenarios\n", argv[1]);
    return 2;
  }
  Generator g{seed};
  long long loaded = 0, refused = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long long k = 0; k < iterations; ++k) {
    const std::string text = mutate(seeds[g.word(static_cast<std::uint32_t>(seeds.size()))], g);
    bool ok = false;
    const std::string problem = check_one(text, ok);
    if (!problem.empty()) {
      std::fprintf(stderr, "iteration %lld: %s\ninput:\n%s\n", k, problem.c_str(), bidsim::printable_line(text).c_str());
      return 1;
    }
    ++(ok ? loaded : refused);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%lld mutated scenarios (seed %llu): %lld loaded, %lld refused with one line, 0 crashes; %.1f s\n",
              iterations, static_cast<unsigned long long>(seed), loaded, refused, seconds);
  return 0;
}

#endif
