// The outcome of one (impression, slot) of a step's allocation, one type for both backends: the CPU
// backend keeps them per thread ([M][S], cpu_backend.cpp Scratch::outcome), the CUDA backend in device
// memory ([items] flat, market_kernels.cuh MarketView::outcome); the auction pass writes them, the
// overspend rule, settle and the per-impression outcomes read them.
#pragma once

#include <cstdint>

#include "engine/core/host_device.hpp"
#include "engine/core/money.hpp"

namespace bidsim {

struct SlotOutcome {
  std::int32_t agent;      // -1 when the slot is not sold (or voided by the truncate rule)
  std::int32_t candidate;  // the slot's ranked winner (sold or not; drop_floor.hpp): its position in
                           // the impression's candidate list, kNoWinner when none or dropped this round
  Money price;             // what the winner pays if charged, exact (to_money of the slot price)
  float value;             // the winner's value for this impression
  bool exposed;            // the slot position was shown
  bool converted;          // set by settle where it is recorded (the CPU backend; the CUDA backend in a
                           // per-impression bids step): the exposed win converted
};
// 24 bytes, so a pass moves the same bytes per slot on the device as the CUDA backend's own type did
// (int32 exposed, no converted) before the two were one.
static_assert(sizeof(SlotOutcome) == 24, "SlotOutcome's size sets the device's bytes per slot");

// Whether the slot's winner pays its price: sold, and shown where the mechanism charges on exposure.
BIDSIM_HD bool is_charged(const SlotOutcome& o, bool charge_on_exposure) {
  return o.agent >= 0 && (o.exposed || !charge_on_exposure);
}

}  // namespace bidsim
