// The host emulator behind cuda/emulation/cuda_runtime.h: device memory, streams, events and the
// launch scheduler. See the header for the execution model and what it checks.
#include <cuda_runtime.h>

#include <boost/context/fiber.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace bidsim::cuda::emulation {
namespace {

namespace bc = boost::context;

constexpr int kWarpSize = 32;
// H100 limits (sm_90), so a configuration the emulator accepts is one the real device accepts.
constexpr int kMultiprocessors = 132;
constexpr std::size_t kDefaultDynamicShared = 48 * 1024;
constexpr std::size_t kOptinDynamicShared = 232448;
constexpr std::size_t kGlobalMemory = std::size_t{80} << 30;
// Device memory and shared memory start as this byte (a GPU leaves them uninitialized): a kernel or
// a copy that reads what nobody wrote sees -4.3e8 floats and -842150451 ints instead of zeros.
constexpr unsigned char kStaleByte = 0xCD;
// Per emulated thread; the kernels keep small fixed arrays on the stack (KeyTop, TopBids).
constexpr std::size_t kStackBytes = 256 * 1024;

// A fault the emulator found in a launch: reported once on stderr, then the sticky launch failure.
struct EmulationFault : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- device memory, streams, events --------------------------------------------------------------

struct Runtime {
  std::mutex mutex;
  std::map<std::uintptr_t, std::size_t> allocations;  // device pointer -> bytes
  std::set<const void*> host_allocations;
  std::map<const void*, std::size_t> dynamic_shared_limit;  // per kernel (cudaFuncSetAttribute)
  std::set<cudaStream_t> streams;
  std::set<cudaEvent_t> events;
  cudaError_t sticky = cudaSuccess;  // a failed kernel poisons the context, as on a GPU
  std::mutex launch_mutex;           // one launch at a time (function-local statics are shared arrays)
};

Runtime& runtime() {
  // Never destroyed: device buffers owned by static objects may be freed after it would have been.
  static Runtime* r = new Runtime;
  return *r;
}

thread_local cudaError_t last_error = cudaSuccess;

cudaError_t fail(cudaError_t error) {
  last_error = error;
  return error;
}

// Does [p, p + bytes) lie inside one device allocation? (Runtime mutex held.)
bool inside_device(const Runtime& r, const void* p, std::size_t bytes) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  auto it = r.allocations.upper_bound(address);
  if (it == r.allocations.begin()) return false;
  --it;
  return address >= it->first && address + bytes <= it->first + it->second;
}

bool touches_device(const Runtime& r, const void* p) { return inside_device(r, p, 1); }

// Checks one side of a copy against the direction the caller named.
bool side_ok(const Runtime& r, const void* p, std::size_t bytes, bool device_side) {
  return device_side ? inside_device(r, p, bytes) : !touches_device(r, p);
}

cudaError_t check_copy(const void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  Runtime& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.sticky != cudaSuccess) return fail(r.sticky);
  bool dst_device = false, src_device = false;
  switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice: dst_device = true; break;
    case cudaMemcpyDeviceToHost: src_device = true; break;
    case cudaMemcpyDeviceToDevice: dst_device = src_device = true; break;
    case cudaMemcpyDefault:
      dst_device = touches_device(r, dst);
      src_device = touches_device(r, src);
      break;
    default: return fail(cudaErrorInvalidMemcpyDirection);
  }
  if (!side_ok(r, dst, bytes, dst_device) || !side_ok(r, src, bytes, src_device)) {
    std::fprintf(stderr,
                 "bidsim CUDA emulator: copy of %zu bytes (kind %d) from %p to %p leaves a device allocation or "
                 "names the wrong side\n",
                 bytes, static_cast<int>(kind), src, dst);
    return fail(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

bool valid_stream(cudaStream_t stream) {
  if (stream == nullptr) return true;
  Runtime& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.streams.count(stream) != 0;
}

// Streams and events are plain heap handles the runtime keeps a set of, so a destroyed or made-up
// handle is refused as cudaErrorInvalidResourceHandle.
template <class Handle>
void track(std::set<Handle> Runtime::*handles, Handle handle) {
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  (r.*handles).insert(handle);
}
template <class Handle>
bool untrack(std::set<Handle> Runtime::*handles, Handle handle) {
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  return (r.*handles).erase(handle) != 0;
}

// ---- the launch scheduler ------------------------------------------------------------------------

// Fiber stacks are reused across blocks and launches (allocating 256 KB per emulated thread would
// cost more than the kernels).
class StackPool {
 public:
  ~StackPool() {
    for (void* stack : free_) std::free(stack);
  }
  bc::stack_context allocate() {
    void* base = nullptr;
    if (free_.empty()) {
      base = std::malloc(kStackBytes);
      if (!base) throw std::bad_alloc();
    } else {
      base = free_.back();
      free_.pop_back();
    }
    bc::stack_context context;
    context.size = kStackBytes;
    context.sp = static_cast<char*>(base) + kStackBytes;
    return context;
  }
  void deallocate(bc::stack_context& context) noexcept {
    free_.push_back(static_cast<char*>(context.sp) - context.size);
  }

 private:
  std::vector<void*> free_;
};

struct Lane;
struct PooledStack {
  StackPool* pool;
  Lane* lane;  // learns its stack's bounds (for AddressSanitizer's fiber annotations)
  bc::stack_context allocate();
  void deallocate(bc::stack_context& context) noexcept { pool->deallocate(context); }
};

enum class LaneState { ready, at_block_barrier, at_warp_collective, done };
enum class WarpOp { sync, ballot, shuffle };
const char* op_name(WarpOp op) {
  return op == WarpOp::sync ? "__syncwarp" : op == WarpOp::ballot ? "a vote (__ballot/__any/__all_sync)" : "a shuffle";
}

struct Lane {
  bc::fiber fiber;      // the lane's own context while it is suspended
  bc::fiber scheduler;  // the scheduler's context while the lane runs
  uint3 index{};
  int lane = 0;  // within its warp
  LaneState state = LaneState::ready;
  // the collective it waits in
  WarpOp op = WarpOp::sync;
  unsigned mask = 0;
  std::uint64_t value = 0;
  int source = 0;
  int predicate = 0;
  std::uint64_t result = 0;
  std::exception_ptr error;
  // Stack bounds, for AddressSanitizer's fiber annotations (see StackSwitch).
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  const void* scheduler_bottom = nullptr;
  std::size_t scheduler_size = 0;
  void* fake_stack = nullptr;
};

bc::stack_context PooledStack::allocate() {
  bc::stack_context context = pool->allocate();
  lane->stack_bottom = static_cast<char*>(context.sp) - context.size;
  lane->stack_size = context.size;
  return context;
}

// AddressSanitizer must be told about every stack switch, or an exception thrown on a fiber's stack
// (a kernel's, or the unwinding of a block abandoned after a fault) looks like stack corruption to
// it. Without ASan these are empty.
#if defined(__SANITIZE_ADDRESS__)
void start_switch(void** fake_stack, const void* bottom, std::size_t size) {
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
}
void finish_switch(void* fake_stack, const void** bottom, std::size_t* size) {
  __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
}
#else
void start_switch(void**, const void*, std::size_t) {}
void finish_switch(void*, const void**, std::size_t*) {}
#endif

struct Grid {
  dim3 grid, block;
  uint3 block_index{};
  std::vector<Lane> lanes;  // the current block's threads, linear thread index order
  std::unique_ptr<unsigned char[]> shared;
  std::size_t shared_bytes = 0;
  std::vector<const void*> stale_statics;  // static shared variables already filled in this block
  const std::function<void()>* body = nullptr;
  bool reverse = false;
};

thread_local Grid* active_grid = nullptr;
thread_local Lane* current_lane = nullptr;
thread_local StackPool stack_pool;

Lane& require_lane(const char* what) {
  if (!current_lane) {
    std::fprintf(stderr, "bidsim CUDA emulator: %s called outside a kernel\n", what);
    std::abort();
  }
  return *current_lane;
}

void suspend(Lane& me) {
  start_switch(&me.fake_stack, me.scheduler_bottom, me.scheduler_size);
  me.scheduler = std::move(me.scheduler).resume();
  finish_switch(me.fake_stack, &me.scheduler_bottom, &me.scheduler_size);
}

// Scheduler side of a switch into `lane` (a resume, or the unwinding of an abandoned lane).
void switch_into(Lane& lane, bc::fiber&& target, bc::fiber& result) {
  void* fake_stack = nullptr;
  start_switch(&fake_stack, lane.stack_bottom, lane.stack_size);
  result = std::move(target).resume();
  finish_switch(fake_stack, nullptr, nullptr);
}

// Unwinds the suspended threads of a block given up after a fault.
void abandon_lanes(std::vector<Lane>& lanes) {
  for (Lane& lane : lanes) {
    if (!lane.fiber) continue;
    void* fake_stack = nullptr;
    start_switch(&fake_stack, lane.stack_bottom, lane.stack_size);
    lane.fiber = bc::fiber();  // resumes it with boost's forced_unwind, which ends on its stack
    finish_switch(fake_stack, nullptr, nullptr);
  }
  lanes.clear();
}

std::string block_name(const Grid& g) {
  return "block (" + std::to_string(g.block_index.x) + "," + std::to_string(g.block_index.y) + "," +
         std::to_string(g.block_index.z) + ")";
}

// Completes the warp collective lane `w` waits in, when every lane its mask names has arrived at the
// same collective. Returns whether it released anyone; throws on a misuse a GPU would not survive.
bool try_release_warp(Grid& g, int warp_first, Lane& w) {
  const int count = static_cast<int>(g.lanes.size());
  std::array<Lane*, kWarpSize> member_lanes{};  // no allocation: this runs for every waiting lane
  int members = 0;
  for (int l = 0; l < kWarpSize; ++l) {
    if (!((w.mask >> l) & 1u)) continue;
    const int linear = warp_first + l;
    if (linear >= count)
      throw EmulationFault(block_name(g) + ": " + op_name(w.op) + " names lane " + std::to_string(l) +
                           ", which the block does not have");
    Lane& member = g.lanes[linear];
    if (member.state == LaneState::done) {
      if (w.op == WarpOp::sync) continue;  // an exited lane does not hold up __syncwarp
      throw EmulationFault(block_name(g) + ", warp " + std::to_string(warp_first / kWarpSize) + ": " + op_name(w.op) +
                           " with lane " + std::to_string(l) + " in its mask, which has exited");
    }
    if (member.state != LaneState::at_warp_collective) return false;  // not there yet
    // A member in a collective of another mask (its lane group's, while this one is the warp's) is
    // still on its way here: the GPU lets it finish that one first. If it never comes, the block
    // deadlocks and run_block reports it. The same mask in another collective is a misuse.
    if (member.mask != w.mask) return false;
    if (member.op != w.op)
      throw EmulationFault(block_name(g) + ", warp " + std::to_string(warp_first / kWarpSize) + ": lanes " +
                           std::to_string(w.lane) + " and " + std::to_string(l) + " wait in different collectives (" +
                           op_name(w.op) + " vs " + op_name(member.op) + ")");
    member_lanes[members++] = &member;
  }
  if (!((w.mask >> w.lane) & 1u))
    throw EmulationFault(block_name(g) + ": lane " + std::to_string(w.lane) + " calls " + op_name(w.op) +
                         " with a mask that leaves itself out");
  std::uint64_t ballot = 0;
  for (int k = 0; k < members; ++k)
    if (member_lanes[k]->predicate) ballot |= std::uint64_t{1} << member_lanes[k]->lane;
  for (int k = 0; k < members; ++k) {
    Lane* m = member_lanes[k];
    if (m->op == WarpOp::ballot) {
      m->result = ballot;
    } else if (m->op == WarpOp::shuffle) {
      const int source = m->source;
      if (source < 0 || source >= kWarpSize || !((w.mask >> source) & 1u))
        throw EmulationFault(block_name(g) + ": lane " + std::to_string(m->lane) + " shuffles from lane " +
                             std::to_string(source) + ", which is not in the mask (undefined on a GPU)");
      m->result = g.lanes[warp_first + source].value;
    }
  }
  for (int k = 0; k < members; ++k) member_lanes[k]->state = LaneState::ready;
  return true;
}

// Releases every collective that has all its participants; returns whether any was released.
bool release_collectives(Grid& g) {
  bool released = false;
  const int count = static_cast<int>(g.lanes.size());
  for (int first = 0; first < count; first += kWarpSize) {
    const int last = std::min(first + kWarpSize, count);
    for (int l = first; l < last; ++l)
      if (g.lanes[l].state == LaneState::at_warp_collective && try_release_warp(g, first, g.lanes[l])) released = true;
  }
  int live = 0, waiting = 0, predicates = 0;
  for (const Lane& lane : g.lanes) {
    if (lane.state == LaneState::done) continue;
    ++live;
    if (lane.state == LaneState::at_block_barrier) {
      ++waiting;
      predicates += lane.predicate != 0;
    }
  }
  if (live > 0 && waiting == live) {
    for (Lane& lane : g.lanes)
      if (lane.state == LaneState::at_block_barrier) {
        lane.result = static_cast<std::uint64_t>(predicates);
        lane.state = LaneState::ready;
      }
    released = true;
  }
  return released;
}

std::string deadlock_report(const Grid& g) {
  int at_block = 0, at_warp = 0;
  for (const Lane& lane : g.lanes) {
    at_block += lane.state == LaneState::at_block_barrier;
    at_warp += lane.state == LaneState::at_warp_collective;
  }
  return block_name(g) + ": deadlock, " + std::to_string(at_block) + " threads wait in __syncthreads and " +
         std::to_string(at_warp) + " in warp collectives that can never complete";
}

// The fiber that runs one thread of the kernel (g.body) for `lane`.
bc::fiber make_lane_fiber(Grid& g, Lane& lane) {
  const std::function<void()>* body = g.body;
  return bc::fiber(std::allocator_arg, PooledStack{&stack_pool, &lane}, [&lane, body](bc::fiber&& scheduler) {
    finish_switch(nullptr, &lane.scheduler_bottom, &lane.scheduler_size);
    lane.scheduler = std::move(scheduler);
    try {
      (*body)();
    } catch (const bc::detail::forced_unwind&) {
      // Abandoned while suspended: this stack was entered from abandon_lanes, not from suspend().
      finish_switch(lane.fake_stack, &lane.scheduler_bottom, &lane.scheduler_size);
      start_switch(nullptr, lane.scheduler_bottom, lane.scheduler_size);
      throw;
    } catch (...) {
      lane.error = std::current_exception();
    }
    lane.state = LaneState::done;
    start_switch(nullptr, lane.scheduler_bottom, lane.scheduler_size);  // this stack ends here
    return std::move(lane.scheduler);
  });
}

void run_block(Grid& g) {
  const int count = static_cast<int>(g.lanes.size());
  std::fill(g.shared.get(), g.shared.get() + g.shared_bytes, kStaleByte);
  g.stale_statics.clear();  // BIDSIM_SHARED variables are filled again as the block reaches them
  for (int linear = 0; linear < count; ++linear) {
    Lane& lane = g.lanes[linear];
    lane.index = uint3{linear % g.block.x, (linear / g.block.x) % g.block.y, linear / (g.block.x * g.block.y)};
    lane.lane = linear % kWarpSize;
    lane.state = LaneState::ready;
    lane.error = nullptr;
    lane.fiber = bc::fiber();  // made at the lane's first turn (never-started lanes hold none)
  }
  for (;;) {
    bool ran = false;
    for (int k = 0; k < count; ++k) {
      Lane& lane = g.lanes[g.reverse ? count - 1 - k : k];
      if (lane.state != LaneState::ready) continue;
      if (!lane.fiber) lane.fiber = make_lane_fiber(g, lane);
      current_lane = &lane;
      switch_into(lane, std::move(lane.fiber), lane.fiber);
      current_lane = nullptr;
      ran = true;
      if (lane.error) {
        try {
          std::rethrow_exception(lane.error);
        } catch (const std::exception& e) {
          throw EmulationFault(block_name(g) + ": a thread threw: " + e.what());
        } catch (...) {
          throw EmulationFault(block_name(g) + ": a thread threw");
        }
      }
    }
    const bool released = release_collectives(g);
    if (ran || released) continue;
    const bool all_done =
        std::all_of(g.lanes.begin(), g.lanes.end(), [](const Lane& l) { return l.state == LaneState::done; });
    if (all_done) break;
    throw EmulationFault(deadlock_report(g));
  }
}

bool reverse_order() {
  static const bool reverse = [] {
    const char* order = std::getenv("BIDSIM_EMULATION_ORDER");
    return order && std::string(order) == "reverse";
  }();
  return reverse;
}

// The multiprocessor count the device reports: kMultiprocessors, or BIDSIM_EMULATION_MULTIPROCESSORS
// (1 to kMultiprocessors), so a test can make grids that size themselves by it (the persistent
// auction grid) hand each block many work items, as a larger problem would on a GPU.
int multiprocessors() {
  static const int count = [] {
    const char* text = std::getenv("BIDSIM_EMULATION_MULTIPROCESSORS");
    if (!text) return kMultiprocessors;
    const int n = std::atoi(text);
    return n >= 1 && n <= kMultiprocessors ? n : kMultiprocessors;
  }();
  return count;
}

}  // namespace

// ---- the emulated thread's view ------------------------------------------------------------------

const uint3& thread_index() { return require_lane("threadIdx").index; }
const uint3& block_index() {
  require_lane("blockIdx");
  return active_grid->block_index;
}
const dim3& block_dim() {
  require_lane("blockDim");
  return active_grid->block;
}
const dim3& grid_dim() {
  require_lane("gridDim");
  return active_grid->grid;
}
void* dynamic_shared_memory() {
  require_lane("dynamic shared memory");
  return active_grid->shared.get();
}
void stale_static_shared(void* storage, std::size_t bytes) {
  require_lane("static shared memory");
  std::vector<const void*>& filled = active_grid->stale_statics;
  if (std::find(filled.begin(), filled.end(), storage) != filled.end()) return;
  std::memset(storage, kStaleByte, bytes);
  filled.push_back(storage);
}
int lane_id() { return require_lane("a warp intrinsic").lane; }

void block_barrier() { (void)block_barrier_count(0); }

int block_barrier_count(int predicate) {
  Lane& me = require_lane("__syncthreads");
  me.state = LaneState::at_block_barrier;
  me.predicate = predicate != 0;
  suspend(me);
  return static_cast<int>(me.result);
}

namespace {
std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int source, int predicate) {
  Lane& me = require_lane(op_name(op));
  me.state = LaneState::at_warp_collective;
  me.op = op;
  me.mask = mask;
  me.value = value;
  me.source = source;
  me.predicate = predicate != 0;
  suspend(me);
  return me.result;
}
}  // namespace

void warp_barrier(unsigned mask) { (void)warp_collective(WarpOp::sync, mask, 0, 0, 0); }
unsigned warp_ballot(unsigned mask, int predicate) {
  return static_cast<unsigned>(warp_collective(WarpOp::ballot, mask, 0, 0, predicate));
}
std::uint64_t warp_shuffle(unsigned mask, std::uint64_t value, int source_lane) {
  return warp_collective(WarpOp::shuffle, mask, value, source_lane, 0);
}

cudaError_t set_function_attribute(const void* kernel, cudaFuncAttribute attribute, int value) {
  Runtime& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (kernel == nullptr) return fail(cudaErrorInvalidValue);
  switch (attribute) {
    case cudaFuncAttributeMaxDynamicSharedMemorySize:
      if (value < 0 || static_cast<std::size_t>(value) > kOptinDynamicShared) return fail(cudaErrorInvalidValue);
      r.dynamic_shared_limit[kernel] = static_cast<std::size_t>(value);
      return cudaSuccess;
    case cudaFuncAttributePreferredSharedMemoryCarveout:
      if (value < -1 || value > 100) return fail(cudaErrorInvalidValue);
      return cudaSuccess;
  }
  return fail(cudaErrorInvalidValue);
}

void launch(const void* kernel, dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
            const std::function<void()>& body) {
  Runtime& r = runtime();
  std::size_t shared_limit = kDefaultDynamicShared;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.sticky != cudaSuccess) {
      last_error = r.sticky;
      return;
    }
    const auto it = r.dynamic_shared_limit.find(kernel);
    if (it != r.dynamic_shared_limit.end()) shared_limit = it->second;
  }
  const unsigned long long threads = static_cast<unsigned long long>(block.x) * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535 ||
      threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64) {
    std::fprintf(stderr, "bidsim CUDA emulator: launch of grid (%u,%u,%u) x block (%u,%u,%u) refused\n", grid.x,
                 grid.y, grid.z, block.x, block.y, block.z);
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  if (shared_bytes > shared_limit) {
    std::fprintf(stderr,
                 "bidsim CUDA emulator: launch asks %zu bytes of dynamic shared memory, above the kernel's %zu "
                 "(cudaFuncSetAttribute raises it to at most %zu)\n",
                 shared_bytes, shared_limit, kOptinDynamicShared);
    fail(cudaErrorInvalidValue);
    return;
  }
  if (!valid_stream(stream)) {
    fail(cudaErrorInvalidResourceHandle);
    return;
  }

  std::lock_guard<std::mutex> one_launch(r.launch_mutex);
  Grid g;
  g.grid = grid;
  g.block = block;
  g.lanes.resize(static_cast<std::size_t>(threads));
  g.shared_bytes = shared_bytes;
  g.shared.reset(new unsigned char[shared_bytes > 0 ? shared_bytes : 1]);
  g.body = &body;
  g.reverse = reverse_order();
  Grid* const outer = active_grid;
  active_grid = &g;
  const unsigned long long blocks = static_cast<unsigned long long>(grid.x) * grid.y * grid.z;
  try {
    for (unsigned long long k = 0; k < blocks; ++k) {
      const unsigned long long b = g.reverse ? blocks - 1 - k : k;
      g.block_index = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                            static_cast<unsigned>(b / (static_cast<unsigned long long>(grid.x) * grid.y))};
      run_block(g);
    }
  } catch (const EmulationFault& fault) {
    std::fprintf(stderr, "bidsim CUDA emulator: kernel fault in %s\n", fault.what());
    abandon_lanes(g.lanes);
    active_grid = outer;
    std::lock_guard<std::mutex> lock(r.mutex);
    r.sticky = cudaErrorLaunchFailure;
    last_error = cudaErrorLaunchFailure;
    return;
  }
  active_grid = outer;
}

}  // namespace bidsim::cuda::emulation

// ---- the runtime API -----------------------------------------------------------------------------

using bidsim::cuda::emulation::check_copy;
using bidsim::cuda::emulation::fail;
using bidsim::cuda::emulation::runtime;
using bidsim::cuda::emulation::Runtime;
using bidsim::cuda::emulation::track;
using bidsim::cuda::emulation::untrack;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "bidsim CUDA emulator");
  prop->totalGlobalMem = bidsim::cuda::emulation::kGlobalMemory;
  prop->sharedMemPerBlock = bidsim::cuda::emulation::kDefaultDynamicShared;
  prop->warpSize = bidsim::cuda::emulation::kWarpSize;
  prop->maxThreadsPerBlock = 1024;
  prop->multiProcessorCount = bidsim::cuda::emulation::multiprocessors();
  prop->major = 9;
  prop->minor = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  switch (attribute) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock:
      *value = static_cast<int>(bidsim::cuda::emulation::kDefaultDynamicShared);
      return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = bidsim::cuda::emulation::multiprocessors(); return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = static_cast<int>(bidsim::cuda::emulation::kOptinDynamicShared);
      return cudaSuccess;
  }
  return fail(cudaErrorInvalidValue);
}
cudaError_t cudaDriverGetVersion(int* version) {
  *version = 0;  // no driver: the emulator
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 0;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::size_t used = 0;
  for (const auto& a : r.allocations) used += a.second;
  *total_bytes = bidsim::cuda::emulation::kGlobalMemory;
  *free_bytes = *total_bytes > used ? *total_bytes - used : 0;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  const cudaError_t e = r.sticky != cudaSuccess ? r.sticky : bidsim::cuda::emulation::last_error;
  bidsim::cuda::emulation::last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.sticky != cudaSuccess ? r.sticky : bidsim::cuda::emulation::last_error;
}
const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure (the emulator printed the cause on stderr)";
  }
  return "unknown error";
}
cudaError_t cudaDeviceSynchronize() {
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.sticky;
}
cudaError_t cudaDeviceReset() {
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.sticky = cudaSuccess;
  bidsim::cuda::emulation::last_error = cudaSuccess;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** pointer, std::size_t bytes) {
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (bytes > bidsim::cuda::emulation::kGlobalMemory) return fail(cudaErrorMemoryAllocation);
  // Exactly `bytes` (256-aligned like cudaMalloc), so AddressSanitizer builds see any access past the end.
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0) return fail(cudaErrorMemoryAllocation);
  std::memset(p, bidsim::cuda::emulation::kStaleByte, bytes);
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.allocations[reinterpret_cast<std::uintptr_t>(p)] = bytes;
  *pointer = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* pointer) {
  if (!pointer) return cudaSuccess;
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  const auto it = r.allocations.find(reinterpret_cast<std::uintptr_t>(pointer));
  if (it == r.allocations.end()) return fail(cudaErrorInvalidDevicePointer);
  r.allocations.erase(it);
  std::free(pointer);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** pointer, std::size_t bytes) {
  *pointer = std::malloc(bytes > 0 ? bytes : 1);
  if (!*pointer) return fail(cudaErrorMemoryAllocation);
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.host_allocations.insert(*pointer);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* pointer) {
  if (!pointer) return cudaSuccess;
  auto& r = runtime();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.host_allocations.erase(pointer)) return fail(cudaErrorInvalidValue);
  std::free(pointer);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (!bidsim::cuda::emulation::valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  const cudaError_t e = check_copy(dst, src, bytes, kind);
  if (e != cudaSuccess) return e;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpy2DAsync(void* dst, std::size_t dst_pitch, const void* src, std::size_t src_pitch,
                              std::size_t width, std::size_t height, cudaMemcpyKind kind, cudaStream_t stream) {
  if (width > dst_pitch || width > src_pitch) return fail(cudaErrorInvalidValue);
  for (std::size_t row = 0; row < height; ++row) {
    const cudaError_t e = cudaMemcpyAsync(static_cast<char*>(dst) + row * dst_pitch,
                                          static_cast<const char*>(src) + row * src_pitch, width, kind, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}
cudaError_t cudaMemset(void* pointer, int value, std::size_t bytes) {
  return cudaMemsetAsync(pointer, value, bytes, nullptr);
}
cudaError_t cudaMemsetAsync(void* pointer, int value, std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (!bidsim::cuda::emulation::valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  {
    auto& r = runtime();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.sticky != cudaSuccess) return fail(r.sticky);
    if (!bidsim::cuda::emulation::inside_device(r, pointer, bytes)) {
      std::fprintf(stderr, "bidsim CUDA emulator: memset of %zu bytes at %p leaves a device allocation\n", bytes,
                   pointer);
      return fail(cudaErrorInvalidValue);
    }
  }
  std::memset(pointer, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  // A distinct non-null handle per stream; streams carry no state (everything runs at once).
  *stream = reinterpret_cast<cudaStream_t>(new char(static_cast<char>(flags)));
  track(&Runtime::streams, *stream);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!untrack(&Runtime::streams, stream)) return fail(cudaErrorInvalidResourceHandle);
  delete reinterpret_cast<char*>(stream);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!bidsim::cuda::emulation::valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  return cudaDeviceSynchronize();
}

namespace {
using EventClock = std::chrono::steady_clock;
EventClock::time_point* event_time(cudaEvent_t event) { return reinterpret_cast<EventClock::time_point*>(event); }
}  // namespace

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = reinterpret_cast<cudaEvent_t>(new EventClock::time_point());
  track(&Runtime::events, *event);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!untrack(&Runtime::events, event)) return fail(cudaErrorInvalidResourceHandle);
  delete event_time(event);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!bidsim::cuda::emulation::valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  *event_time(event) = EventClock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaDeviceSynchronize(); }
cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t stop) {
  *milliseconds = std::chrono::duration<float, std::milli>(*event_time(stop) - *event_time(start)).count();
  return cudaSuccess;
}
