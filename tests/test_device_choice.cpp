// Device selection (engine/core/device_choice.hpp): the --device parser, the one refusal message, and the
// automatic rule, on whatever this machine has (no device, the host emulator, or a GPU).
#include <catch2/catch.hpp>

#include <string>

#include "engine/core/device_choice.hpp"
#include "engine/core/errors.hpp"

namespace {

std::string usage_message(void (*call)()) {
  try {
    call();
  } catch (const bidsim::UsageError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("device choice: parse_device reads auto, cpu and cuda", "[device]") {
  CHECK(bidsim::parse_device("auto") == bidsim::Device::automatic);
  CHECK(bidsim::parse_device("cpu") == bidsim::Device::cpu);
  CHECK(bidsim::parse_device("cuda") == bidsim::Device::cuda);
}

TEST_CASE("device choice: a bad --device value is one line naming the value and the choices", "[device]") {
  for (const std::string bad : {"gpu", "", "CUDA", "cuda "}) {
    try {
      bidsim::parse_device(bad);
      FAIL("parse_device accepted '" << bad << "'");
    } catch (const bidsim::UsageError& e) {
      CHECK(std::string(e.what()) == "--device: got '" + bad + "', expected auto, cpu or cuda");
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
  }
}

TEST_CASE("device choice: require_cuda_device refuses with the one message when no device is usable", "[device]") {
  const std::string message = usage_message([] { bidsim::require_cuda_device("--device cuda"); });
  if (bidsim::cuda_device_present()) {
    CHECK(message.empty());
    return;
  }
  if (bidsim::cuda_backend_built())
    CHECK(message == "--device cuda: no CUDA device is available on this machine");
  else
    CHECK(message == "--device cuda: this bidsim was built without the CUDA backend (no nvcc at configure time)");
  // The request's name leads the message, whatever asked.
  const std::string timing = usage_message([] { bidsim::require_cuda_device("time_auction_kernel"); });
  CHECK(timing.rfind("time_auction_kernel: ", 0) == 0);
  CHECK(timing.find('\n') == std::string::npos);
}

TEST_CASE("device choice: choose_device keeps cpu, checks cuda, and picks cuda automatically only when worth it",
          "[device]") {
  using bidsim::Device;
  const bool present = bidsim::cuda_device_present();
  CHECK((!present || bidsim::cuda_backend_built()));
  for (const bool worth : {false, true}) CHECK(bidsim::choose_device(Device::cpu, worth) == Device::cpu);
  CHECK(bidsim::choose_device(Device::automatic, false) == Device::cpu);
  CHECK(bidsim::choose_device(Device::automatic, true) == (present ? Device::cuda : Device::cpu));
  if (present) {
    CHECK(bidsim::choose_device(Device::cuda) == Device::cuda);
  } else {
    const std::string message = usage_message([] { (void)bidsim::choose_device(Device::cuda); });
    CHECK(message.find("--device cuda: ") == 0);
    CHECK((message.find("no CUDA device") != std::string::npos || message.find("without the CUDA backend") != std::string::npos));
  }
}
