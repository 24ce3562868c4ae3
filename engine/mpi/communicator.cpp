// MPI behind a small interface (see communicator.hpp). The only file that includes <mpi.h>; without
// BIDSIM_HAVE_MPI every collective is the identity of a one-process world.
#include "engine/mpi/communicator.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#ifdef BIDSIM_HAVE_MPI
#include <mpi.h>
#endif

namespace bidsim::dist {

EnvBlock env_block(int total, int rank, int size) {
  if (size <= 0 || rank < 0 || rank >= size) throw std::invalid_argument("env_block: rank outside [0, size)");
  const int base = total / size, extra = total % size;
  EnvBlock b;
  b.count = base + (rank < extra ? 1 : 0);
  b.first = rank * base + (rank < extra ? rank : extra);
  return b;
}

BlockLayout block_layout(int total_envs, int size, std::int64_t per_env) {
  BlockLayout layout;
  for (int r = 0; r < size; ++r) {
    const EnvBlock b = env_block(total_envs, r, size);
    const std::int64_t count = b.count * per_env, displacement = b.first * per_env;
    // MPI counts are int: a block beyond 2^31 elements must be split by the caller (never needed yet).
    if (count > 0x7fffffff || displacement > 0x7fffffff)
      throw std::length_error("block_layout: more than 2^31 elements in one gather");
    layout.counts.push_back(static_cast<int>(count));
    layout.displacements.push_back(static_cast<int>(displacement));
  }
  layout.total = static_cast<std::int64_t>(total_envs) * per_env;
  return layout;
}

namespace {

#ifdef BIDSIM_HAVE_MPI
bool g_started_mpi = false;  // this process called MPI_Init (and so must call MPI_Finalize)

template <typename T> MPI_Datatype mpi_type();
template <> MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
template <> MPI_Datatype mpi_type<std::int32_t>() { return MPI_INT32_T; }
template <> MPI_Datatype mpi_type<std::int64_t>() { return MPI_INT64_T; }

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw std::runtime_error(std::string(call) + " failed: " + std::string(text, length));
}
#endif

template <typename T>
std::vector<T> gather_all(const Communicator& comm, const std::vector<T>& local) {
  if (comm.size() == 1) return local;
#ifdef BIDSIM_HAVE_MPI
  if (local.size() > 0x7fffffffu) throw std::length_error("all_gather: more than 2^31 elements on one rank");
  std::vector<int> counts(comm.size()), displacements(comm.size());
  const int mine = static_cast<int>(local.size());
  check(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
  std::int64_t total = 0;
  for (int r = 0; r < comm.size(); ++r) {
    if (total > 0x7fffffff) throw std::length_error("all_gather: more than 2^31 elements in all");
    displacements[r] = static_cast<int>(total);
    total += counts[r];
  }
  std::vector<T> out(static_cast<std::size_t>(total));
  check(MPI_Allgatherv(local.data(), mine, mpi_type<T>(), out.data(), counts.data(), displacements.data(),
                       mpi_type<T>(), MPI_COMM_WORLD),
        "MPI_Allgatherv");
  return out;
#else
  return local;
#endif
}

template <typename T>
void gather_into(const Communicator& comm, const T* local, T* out, const BlockLayout& layout) {
  const int mine = layout.counts.at(comm.rank());
  if (comm.size() == 1) {
    std::copy(local, local + mine, out + layout.displacements[0]);
    return;
  }
#ifdef BIDSIM_HAVE_MPI
  check(MPI_Allgatherv(local, mine, mpi_type<T>(), out, layout.counts.data(), layout.displacements.data(),
                       mpi_type<T>(), MPI_COMM_WORLD),
        "MPI_Allgatherv");
#endif
}

}  // namespace

// --- World -------------------------------------------------------------------------------------------

bool World::built_with_mpi() {
#ifdef BIDSIM_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool World::launched_by_mpi() {
  // OpenMPI's mpirun, PMIx launchers (OpenMPI 5, srun --mpi=pmix) and PMI/PMI-2 (MPICH Hydra, srun --mpi=pmi2).
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

void World::initialize(int* argc, char*** argv) {
#ifdef BIDSIM_HAVE_MPI
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized || !launched_by_mpi()) return;
  // FUNNELED: OpenMP threads run inside a rank, but only the main thread calls MPI.
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  g_started_mpi = true;
#else
  (void)argc;
  (void)argv;
#endif
}

void World::finalize() {
#ifdef BIDSIM_HAVE_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_started_mpi && !finalized) MPI_Finalize();
#endif
}

void World::abort(int exit_code) {
#ifdef BIDSIM_HAVE_MPI
  if (active()) MPI_Abort(MPI_COMM_WORLD, exit_code);
#endif
  std::exit(exit_code);
}

bool World::active() {
#ifdef BIDSIM_HAVE_MPI
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
#else
  return false;
#endif
}

// --- Communicator --------------------------------------------------------------------------------------

Communicator::Communicator() {
#ifdef BIDSIM_HAVE_MPI
  if (!World::active()) return;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
#endif
}

const Communicator& Communicator::world() {
  static const Communicator instance;  // built on first use, after World::initialize()
  return instance;
}

std::vector<float> Communicator::all_gather(const std::vector<float>& local) const { return gather_all(*this, local); }
std::vector<double> Communicator::all_gather(const std::vector<double>& local) const { return gather_all(*this, local); }
std::vector<std::int32_t> Communicator::all_gather(const std::vector<std::int32_t>& local) const {
  return gather_all(*this, local);
}
std::vector<std::int64_t> Communicator::all_gather(const std::vector<std::int64_t>& local) const {
  return gather_all(*this, local);
}

void Communicator::all_gather_into(const float* local, float* out, const BlockLayout& layout) const {
  gather_into(*this, local, out, layout);
}
void Communicator::all_gather_into(const double* local, double* out, const BlockLayout& layout) const {
  gather_into(*this, local, out, layout);
}

double Communicator::sum_in_rank_order(double local) const {
  const std::vector<double> parts = all_gather(std::vector<double>{local});
  double sum = 0;
  for (double x : parts) sum += x;  // same order on every rank: the same bits everywhere
  return sum;
}

#ifdef BIDSIM_HAVE_MPI
namespace {
std::int64_t all_reduce(std::int64_t local, MPI_Op op) {
  std::int64_t out = 0;
  check(MPI_Allreduce(&local, &out, 1, MPI_INT64_T, op, MPI_COMM_WORLD), "MPI_Allreduce");
  return out;
}
}  // namespace
#endif

std::int64_t Communicator::max(std::int64_t local) const {
#ifdef BIDSIM_HAVE_MPI
  if (size_ > 1) return all_reduce(local, MPI_MAX);
#endif
  return local;
}

std::int64_t Communicator::min(std::int64_t local) const {
#ifdef BIDSIM_HAVE_MPI
  if (size_ > 1) return all_reduce(local, MPI_MIN);
#endif
  return local;
}

bool Communicator::all(bool local) const { return min(local ? 1 : 0) == 1; }

void Communicator::barrier() const {
#ifdef BIDSIM_HAVE_MPI
  if (size_ > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

std::string Communicator::broadcast(const std::string& from_root) const {
  if (size_ == 1) return from_root;
#ifdef BIDSIM_HAVE_MPI
  std::int64_t length = static_cast<std::int64_t>(from_root.size());
  check(MPI_Bcast(&length, 1, MPI_INT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
  std::string out = rank_ == 0 ? from_root : std::string(static_cast<std::size_t>(length), '\0');
  if (length > 0) check(MPI_Bcast(out.data(), static_cast<int>(length), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
#else
  return from_root;
#endif
}

}  // namespace bidsim::dist
