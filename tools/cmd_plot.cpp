// `bidsim plot DIR`: the figures of a run directory, drawn by tools/bidsim_plot.py with matplotlib (the
// project's one plotting path). The C++ commands themselves only write the SVGs of tools/svg_plot.hpp,
// which need no Python; this command hands the directory to the script and returns its exit status.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/errors.hpp"
#include "tools/commands.hpp"

namespace bidsim {

namespace {

namespace fs = std::filesystem;

struct PlotOptions {
  std::string dir, format = "png", out;
};

// bidsim_plot.py next to the scenarios of an install (PREFIX/share/bidsim/tools), else in the source tree.
std::string plot_script() {
  std::error_code ignored;
  const fs::path executable = fs::read_symlink("/proc/self/exe", ignored);
  if (!executable.empty()) {
    const fs::path installed = executable.parent_path().parent_path() / "share" / "bidsim" / "tools" / "bidsim_plot.py";
    if (fs::exists(installed, ignored)) return installed.string();
  }
  return (fs::path(BIDSIM_SOURCE_DIR) / "tools" / "bidsim_plot.py").string();
}

// $BIDSIM_PYTHON, else Debian's /usr/bin/python3 (where python3-matplotlib lives), else python3 on PATH.
std::string python_program() {
  const char* chosen = std::getenv("BIDSIM_PYTHON");
  if (chosen && *chosen) return chosen;
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return "python3";
}

int run_plot(const PlotOptions& o) {
  std::error_code ec;
  if (!fs::is_directory(o.dir, ec))
    throw UsageError(o.dir + ": not a directory, expected a run directory (--out of a bidsim command)");
  const std::string script = plot_script();
  if (!fs::exists(script, ec)) throw UsageError("plot: " + script + " is missing (it is installed with bidsim)");
  std::vector<std::string> args = {python_program(), script, o.dir, "--format", o.format};
  if (!o.out.empty()) args.insert(args.end(), {"--out", o.out});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());  // returns only when Python cannot be started
  throw UsageError("plot: cannot start " + args[0] + " (" + std::strerror(errno) +
                   "); plots need Python 3 with matplotlib (Debian: apt-get install python3-matplotlib), or set "
                   "BIDSIM_PYTHON");
}

}  // namespace

void add_plot_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<PlotOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plot",
      "Draw the figures of a run directory with matplotlib (tools/bidsim_plot.py, Python 3 with matplotlib):\n"
      "train.png (train.csv), pacing.png (steps.csv), exploitability.png (per agent, train / evaluate),\n"
      "policy.png (mean-field policy heatmap) and history.png (mesob), front.png (mesob-pareto).");
  cmd->add_option("dir", o->dir, "Run directory (the --out of a bidsim command)")->required();
  cmd->add_option("--format", o->format, "png or svg")->check(CLI::IsMember({"png", "svg"}));
  cmd->add_option("--out", o->out, "Directory for the figures (default: the run directory)")
      ->check(CLI::Validator(check_out_text, "DIR"));
  commands.push_back({cmd, [o] { return run_plot(*o); }});
}

}  // namespace bidsim
