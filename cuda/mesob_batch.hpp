// Host entry to the batched MESOB-OMO iteration on the device (compiles with g++): B configurations of
// one game, one GPU warp each, running the host+device step of mesob/omo_kernel.hpp. Kernels in mesob_batch.cu.
#pragma once

#include <memory>
#include <vector>

#include "mesob/omo_kernel.hpp"

namespace bidsim::cuda {

class MesobBatch {
 public:
  // Uploads the game's arrays (the host pointers of `problem`) and the configurations once, and sets
  // every configuration's iterate to y = z = 0, d = `initial_d` ([T+1][S*A]), Adam moments 0.
  // Throws std::runtime_error on a CUDA error (no device: check cuda::device_count() first).
  MesobBatch(const mesob::OmoProblem& problem, const std::vector<mesob::OmoStepConfig>& configs,
             const std::vector<double>& initial_d);
  ~MesobBatch();
  MesobBatch(MesobBatch&&) noexcept;
  MesobBatch& operator=(MesobBatch&&) noexcept;
  MesobBatch(const MesobBatch&) = delete;
  MesobBatch& operator=(const MesobBatch&) = delete;

  int size() const;
  // Steps first + 1 .. first + steps of every configuration (each stops at its own iteration count);
  // one launch on the batch's stream, asynchronous.
  void advance(int first, int steps);
  // d ([B][T+1][S*A]) and f^MESOB-OMO's terms ([B]) at the current iterates; waits for the stream.
  void read(std::vector<double>& d, std::vector<mesob::OmoTerms>& terms);
  // The whole iterate: y [B][T+1][S], z and d [B][T+1][S*A]; waits for the stream.
  void read_iterates(std::vector<double>& y, std::vector<double>& z, std::vector<double>& d);
  void synchronize();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bidsim::cuda
