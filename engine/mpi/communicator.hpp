// What bidsim needs from MPI, and nothing more: rank, size, local rank, contiguous env blocks, and
// fixed-order collectives. Built without MPI (or run without mpirun) it is a one-process world.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bidsim::dist {

// Environments [first, first + count) of a batch: rank r of `size` gets a contiguous block, the
// first (total % size) ranks one env more, so blocks in rank order are the batch in env order.
struct EnvBlock {
  int first = 0;
  int count = 0;
};
EnvBlock env_block(int total, int rank, int size);

// Element counts and displacements of every rank's block when each env carries `per_env` elements.
struct BlockLayout {
  std::vector<int> counts, displacements;
  std::int64_t total = 0;
};
BlockLayout block_layout(int total_envs, int size, std::int64_t per_env);

// Process-wide MPI state. MPI is initialized at most once (tools/bidsim.cpp) and only when the
// process was started by an MPI launcher (mpirun / srun), so a plain `bidsim` never touches MPI.
class World {
 public:
  // Initializes MPI when built with it and launched under a launcher; idempotent.
  static void initialize(int* argc, char*** argv);
  static void finalize();  // MPI_Finalize if initialize() started MPI
  static bool launched_by_mpi();  // the launcher's environment variables are set
  static bool active();           // MPI is initialized and usable
  static bool built_with_mpi();
  // Ends every rank at once (MPI_Abort) when MPI is active, else std::exit: for failures that may
  // have hit one rank only, whose peers would otherwise wait forever in the next collective.
  [[noreturn]] static void abort(int exit_code);
};

// The communicator of all ranks (MPI_COMM_WORLD), or a single process when MPI is not active.
// Every collective is called by all ranks in the same order; results are in rank order, which with
// env_block() is global environment order, so gathered data does not depend on the rank count.
class Communicator {
 public:
  static const Communicator& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // rank among the processes on this node
  int local_size() const { return local_size_; }
  bool is_root() const { return rank_ == 0; }

  // Concatenation of every rank's `local` in rank order (sizes may differ), on every rank.
  std::vector<float> all_gather(const std::vector<float>& local) const;
  std::vector<double> all_gather(const std::vector<double>& local) const;
  std::vector<std::int32_t> all_gather(const std::vector<std::int32_t>& local) const;
  std::vector<std::int64_t> all_gather(const std::vector<std::int64_t>& local) const;
  // Same into a preallocated buffer of known layout (the caller's block layout): no allocation.
  void all_gather_into(const float* local, float* out, const BlockLayout& layout) const;
  void all_gather_into(const double* local, double* out, const BlockLayout& layout) const;

  // Σ over ranks, added in rank order on rank 0 and broadcast, so the sum is the same for any
  // rank count that produces the same per-rank values (MPI_Allreduce gives no order guarantee).
  double sum_in_rank_order(double local) const;
  std::int64_t max(std::int64_t local) const;
  std::int64_t min(std::int64_t local) const;
  bool all(bool local) const;   // true when every rank says true (agreement on errors)

  void barrier() const;
  // Rank 0's string, on every rank.
  std::string broadcast(const std::string& from_root) const;

 private:
  Communicator();
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace bidsim::dist
